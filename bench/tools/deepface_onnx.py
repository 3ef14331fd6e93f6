#!/usr/bin/env python3
"""deepface_onnx.py OUTDIR [--models A,B] - the speed anchor's networks:
deepface's architectures, each written twice with the same seeded weights,
as a Keras .h5 for facekit and as an .onnx for ONNX Runtime.

The architectures and their weights come from tests/tools/keras_ref.py
(PyTorch, Debian python3-torch): the same torch module is saved through
keras_ref's Keras layout and exported with torch.onnx.export (Debian
python3-onnx; opset 13, NCHW input "input" with a dynamic batch axis, every
output the torch function returns, so ONNX Runtime computes what facekit's
graph computes, VGG-Face's unused fc8 included). One fixed random input is
written NHWC (facekit's layout) and NCHW (the ONNX model's) with torch's
output on it, so bench/peers/compare.js can check that both engines run the
same network before it times them.

Written per benchmark entry M (facekit's model name) into OUTDIR:
  M.h5  M.onnx  M.in.nhwc.f32  M.in.nchw.f32  M.ref.f32
and OUTDIR/manifest.json: [{name, h5, onnx, h, w, out, dim}], out naming the
ONNX output facekit's model returns. An entry whose files exist is left as
it is (delete OUTDIR to regenerate).

Run with Debian's python (/usr/bin/python3): it has torch and onnx.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "tools"))
import keras_ref  # noqa: E402

# facekit model name -> (keras_ref architecture, the output facekit returns).
# Adding an architecture to the anchor is one line here.
ENTRIES = [
    ("VGG-Face", "vgg_face", "vgg_face"),
    ("DeepID", "deepid", "deepid"),
    ("Facenet512", "facenet512", "facenet512"),
    ("Facenet", "facenet", "facenet"),
    ("DeepFace", "fb_deepface", "fb_deepface"),
    ("ArcFace", "arcface", "arcface"),
    ("VGGFace2-ResNet50", "vggface2_resnet50", "vggface2_resnet50"),
    ("VGGFace2-SENet50", "vggface2_senet50", "vggface2_senet50"),
]

FILES = (".h5", ".onnx", ".in.nhwc.f32", ".in.nchw.f32", ".ref.f32")


class Net(torch.nn.Module):
    """keras_ref's functional network as a module, outputs in a fixed order."""

    def __init__(self, run, keys):
        super().__init__()
        self.run, self.keys = run, keys

    def forward(self, x):
        outs = self.run(x)
        return tuple(outs[k] for k in self.keys)


def write_entry(outdir, name, arch, out_key, seed):
    w, run, (h, wd), dtype = keras_ref.ARCHS[arch](seed)
    # A functional architecture draws its weights while it runs (keras_ref's
    # Functional recorder): record torch's random draws during the first run
    # and replay them after, so every later call - the export's trace
    # included, which must see constants, not random ops - runs the same
    # weights.
    drawn, real = [], (torch.randn, torch.rand)

    def recorder(fn):
        def draw(*args, **kw):
            drawn.append(fn(*args, **kw))
            return drawn[-1]
        return draw

    def replay(*args, **kw):
        replay.at += 1
        return drawn[replay.at - 1]

    base = os.path.join(outdir, name)
    x = np.random.default_rng(seed).random((1, h, wd, 3), dtype=np.float32)
    xc = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    torch.randn, torch.rand = recorder(real[0]), recorder(real[1])
    try:
        outs = run(xc)
    finally:
        torch.randn, torch.rand = real
    w.save(base + ".h5", dtype)  # after the run: a functional model's layers are known
    keys = list(outs.keys())
    ref = outs[out_key]

    class Replayed(Net):
        def forward(self, x):
            replay.at = 0
            return super().forward(x)

    net = Replayed(run, keys).eval()
    torch.randn = torch.rand = replay
    try:
        torch.onnx.export(net, (xc,), base + ".onnx", input_names=["input"],
                          output_names=keys,
                          dynamic_axes={"input": {0: "n"}, **{k: {0: "n"} for k in keys}},
                          opset_version=13, do_constant_folding=True)
    finally:
        torch.randn, torch.rand = real
    x.tofile(base + ".in.nhwc.f32")
    xc.numpy().tofile(base + ".in.nchw.f32")
    ref.numpy().astype(np.float32).tofile(base + ".ref.f32")
    return {"name": name, "h5": name + ".h5", "onnx": name + ".onnx", "h": h, "w": wd,
            "out": out_key, "dim": int(ref.shape[1])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--models", help="comma-separated facekit names (default: all)")
    a = ap.parse_args()
    want = set(a.models.split(",")) if a.models else None
    os.makedirs(a.outdir, exist_ok=True)
    mpath = os.path.join(a.outdir, "manifest.json")
    old = {}
    if os.path.exists(mpath):
        with open(mpath) as f:
            old = {e["name"]: e for e in json.load(f)}
    manifest = []
    for seed, (name, arch, out_key) in enumerate(ENTRIES):
        if want and name not in want:
            if name in old:  # keep what an earlier run wrote
                manifest.append(old[name])
            continue
        if arch not in keras_ref.ARCHS:
            print("deepface_onnx: %s: keras_ref.py has no %s, skipped" % (name, arch),
                  file=sys.stderr)
            continue
        have = all(os.path.exists(os.path.join(a.outdir, name + s)) for s in FILES)
        if have and name in old:
            manifest.append(old[name])
            continue
        print("deepface_onnx: writing %s (.h5 + .onnx)" % name, file=sys.stderr)
        manifest.append(write_entry(a.outdir, name, arch, out_key, 200 + seed))
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    # torch 1.13's exporter warns about prim::Constant shape inference on
    # every constant weight; the exported graph is checked by compare.js
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_grad_enabled(False)
    main()
