#!/usr/bin/env python3
"""keras_ref.py OUTDIR [--face FACE.ppm] [--models a,b] - reference networks
for facekit's Keras-model architectures (src/models/deepface_*.c).

Each architecture is built here a second time, independently of the C code,
in PyTorch (Debian python3-torch), with seeded random weights. The weights
are written as Keras' save_weights writes a .h5 (h5py): root attribute
layer_names listing every layer (those without weights too), one group per
layer with attribute weight_names, one dataset per weight at
<layer>/<layer>/kernel:0, conv kernels as height x width x in x out, dense
kernels as in x out. Layer names and order are deepface's (or what a Keras 2
session would have numbered them), so the file looks like the user's.

The networks then run on fixed random inputs and, with --face, on one real
face (a binary PPM), prepared as deepface's represent prepares it: /255,
RGB -> BGR, resized keeping its aspect ratio (bilinear, cv2.resize's
INTER_LINEAR formula) and padded with black to the model's size, then the
model's normalization (all "base" here: the 0..1 BGR values).

Written per model M into OUTDIR:
  M.h5          the weights
  M.in.f32      the inputs, NHWC float32, the face last when given
  M.out.f32     what facekit's model must return for each input
and one line per model in OUTDIR/manifest.txt:
  M h5_file input_h input_w n_inputs out_dim face(0/1)
Weights are rounded to float16-representable values, so a file may store
them as float16 (VGG-Face's does: it exercises that path and halves its
size) and give the same outputs.

Only a test tool: tests/models/test_deepface_models.c runs it into a temp
folder; nothing it writes is committed.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
torch.set_num_threads(2)


# ---- weights --------------------------------------------------------------

class Weights:
    """Seeded random weights, He-scaled so deep ReLU stacks keep their range,
    and the Keras layer table they are written as."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.layers = []  # (name, [(weight name, numpy array)])

    def rand(self, shape, std):
        t = torch.randn(shape, generator=self.gen) * std
        return t.half().float()  # float16-representable

    def conv(self, name, kh, kw, cin, cout, bias=True):
        k = self.rand((kh, kw, cin, cout), (2.0 / (kh * kw * cin)) ** 0.5)
        ws = [(name + "/kernel:0", k)]
        b = None
        if bias:
            b = self.rand((cout,), 0.05)
            ws.append((name + "/bias:0", b))
        self.layers.append((name, ws))
        return k, b

    def dense(self, name, cin, cout):
        k = self.rand((cin, cout), (2.0 / cin) ** 0.5)
        b = self.rand((cout,), 0.05)
        self.layers.append((name, [(name + "/kernel:0", k), (name + "/bias:0", b)]))
        return k, b

    def local(self, name, oh, ow, k, cin, cout):
        """LocallyConnected2D: kernel [oh*ow][k*k*cin][cout], bias [oh][ow][cout]."""
        kern = self.rand((oh * ow, k * k * cin, cout), (2.0 / (k * k * cin)) ** 0.5)
        b = self.rand((oh, ow, cout), 0.05)
        self.layers.append((name, [(name + "/kernel:0", kern), (name + "/bias:0", b)]))
        return kern, b

    def unread(self, name, shapes):
        """A layer facekit checks but never reads (a dropped classifier head):
        datasets of the right shape left unwritten (HDF5's fill value)."""
        self.layers.append((name, [(name + "/" + w + ":0", s) for w, s in shapes]))

    def none(self, name):
        self.layers.append((name, []))

    def save(self, path, dtype):
        with h5py.File(path, "w") as f:
            f.attrs["layer_names"] = np.array([n.encode() for n, _ in self.layers])
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.2.4"
            for name, ws in self.layers:
                g = f.create_group(name)
                g.attrs["weight_names"] = np.array([w.encode() for w, _ in ws])
                for wname, arr in ws:
                    if isinstance(arr, tuple):
                        g.create_dataset(wname, shape=arr, dtype=dtype)
                    else:
                        g.create_dataset(wname, data=arr.numpy().astype(dtype))


def conv2d(x, k, b, stride=1, pad=0):
    """x NCHW; k Keras HWIO."""
    w = k.permute(3, 2, 0, 1).contiguous()
    return F.conv2d(x, w, b, stride=stride, padding=pad)


def flatten_nhwc(x):
    """Keras' Flatten on channels-last data: (h, w, c) order."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def l2(v):
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


# ---- VGG-Face (deepface VGGFace.py) -----------------------------------------

def vgg_face(seed):
    w = Weights(seed)
    blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
    convs = []
    cin, i, zp, mp = 3, 0, 0, 0
    for cout, n in blocks:
        for _ in range(n):
            w.none("zero_padding2d" + ("_%d" % zp if zp else ""))
            zp += 1
            convs.append(w.conv("conv2d" + ("_%d" % i if i else ""), 3, 3, cin, cout))
            i += 1
            cin = cout
        w.none("max_pooling2d" + ("_%d" % mp if mp else ""))
        mp += 1
    fc6 = w.conv("conv2d_%d" % i, 7, 7, 512, 4096)
    w.none("dropout")
    fc7 = w.conv("conv2d_%d" % (i + 1), 1, 1, 4096, 4096)
    w.none("dropout_1")
    fc8 = w.conv("conv2d_%d" % (i + 2), 1, 1, 4096, 2622)
    w.none("flatten")
    w.none("activation")

    def run(x):
        c = 0
        for cout, n in blocks:
            for _ in range(n):
                k, b = convs[c]
                x = F.relu(conv2d(x, k, b, pad=1))
                c += 1
            x = F.max_pool2d(x, 2, 2)
        x = F.relu(conv2d(x, *fc6))
        f7 = F.relu(conv2d(x, *fc7))
        f8 = conv2d(f7, *fc8)
        return {"vgg_face": l2(flatten_nhwc(f7)), "vgg_face_2622": flatten_nhwc(f8)}

    return w, run, (224, 224), np.float16


# ---- DeepID (deepface DeepID.py) --------------------------------------------

def deepid(seed):
    w = Weights(seed)
    w.none("input_1")
    c1 = w.conv("Conv1", 4, 4, 3, 20)
    w.none("Pool1"); w.none("D1")
    c2 = w.conv("Conv2", 3, 3, 20, 40)
    w.none("Pool2"); w.none("D2")
    c3 = w.conv("Conv3", 3, 3, 40, 60)
    w.none("Pool3"); w.none("D3")
    # Keras orders a functional model's layers by depth from the output:
    # Conv4 (depth 4) before the flattens (3) before fc11 and fc12 (2)
    c4 = w.conv("Conv4", 2, 2, 60, 80)
    w.none("flatten"); w.none("flatten_1")
    fc11 = w.dense("fc11", 5 * 4 * 60, 160)
    fc12 = w.dense("fc12", 4 * 3 * 80, 160)
    w.none("add"); w.none("deepid")

    def run(x):
        x = F.max_pool2d(F.relu(conv2d(x, *c1)), 2, 2)
        x = F.max_pool2d(F.relu(conv2d(x, *c2)), 2, 2)
        x = F.max_pool2d(F.relu(conv2d(x, *c3)), 2, 2)
        a = flatten_nhwc(x) @ fc11[0] + fc11[1]
        y = F.relu(conv2d(x, *c4))
        b = flatten_nhwc(y) @ fc12[0] + fc12[1]
        return {"deepid": F.relu(a + b)}

    return w, run, (55, 47), np.float32


# ---- DeepFace (deepface FbDeepFace.py) -----------------------------------------

def local2d(x, kern, b, k, stride):
    """Keras LocallyConnected2D on NCHW x: unfold gives each patch in (c, ky,
    kx) order, Keras' kernel rows are (ky, kx, c)."""
    n, c, h, wd = x.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    cols = F.unfold(x, k, stride=stride)  # n, c*k*k, oh*ow
    kk = kern.reshape(oh * ow, k, k, c, -1).permute(0, 3, 1, 2, 4).reshape(oh * ow, c * k * k, -1)
    y = torch.einsum("nfl,lfo->nlo", cols, kk) + b.reshape(oh * ow, -1)
    return y.reshape(n, oh, ow, -1).permute(0, 3, 1, 2)


def fb_deepface(seed):
    w = Weights(seed)
    c1 = w.conv("C1", 11, 11, 3, 32)
    w.none("M2")
    c3 = w.conv("C3", 9, 9, 32, 16)
    l4 = w.local("L4", 55, 55, 9, 16, 16)
    l5 = w.local("L5", 25, 25, 7, 16, 16)
    l6 = w.local("L6", 21, 21, 5, 16, 16)
    w.none("F0")
    f7 = w.dense("F7", 7056, 4096)
    w.none("D0")
    w.unread("F8", [("kernel", (4096, 8631)), ("bias", (8631,))])

    def run(x):
        x = F.relu(conv2d(x, *c1))
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)  # SAME: 142 -> 71
        x = F.relu(conv2d(x, *c3))
        x = F.relu(local2d(x, *l4, 9, 1))
        x = F.relu(local2d(x, *l5, 7, 2))
        x = F.relu(local2d(x, *l6, 5, 1))
        return {"fb_deepface": F.relu(flatten_nhwc(x) @ f7[0] + f7[1])}

    return w, run, (152, 152), np.float16


# ---- Keras functional models: the file's layer order ------------------------

class Functional:
    """Records a functional model's layers (weighted or not) while running
    it eagerly, then lists them as Keras' Network._map_graph_network does:
    by decreasing depth (longest path to the output), ties in the order a
    depth-first walk from the output, inputs in order, first meets them."""

    def __init__(self, w):
        self.w = w
        self.layers = [("input_1", [], [])]  # (name, input ids, weights)

    def layer(self, name, inputs, weights=()):
        # a repeated name gets Keras' _1, _2 ... (weightless layers: "add")
        used = {l[0] for l in self.layers}
        base, k = name, 0
        while name in used:
            k += 1
            name = "%s_%d" % (base, k)
        self.layers.append((name, list(inputs), list(weights)))
        return len(self.layers) - 1

    def finish(self, out):
        idx, done, post = {}, set(), []

        def walk(l):
            if l in done:
                return
            idx.setdefault(l, len(idx))
            for i in self.layers[l][1]:
                walk(i)
            done.add(l)
            post.append(l)

        walk(out)
        depth = {l: 0 for l in post}
        for l in reversed(post):
            for i in self.layers[l][1]:
                depth[i] = max(depth[i], depth[l] + 1)
        order = sorted(post, key=lambda l: (-depth[l], idx[l]))
        self.w.layers = [(self.layers[l][0], self.layers[l][2]) for l in order]


class T:
    """A tensor (NCHW) and the id of the Keras layer that made it."""

    def __init__(self, x, lid):
        self.x, self.id = x, lid


def tf_same_pad(x, kh, kw, s):
    """TensorFlow's SAME: output ceil(in / s), the odd pixel bottom/right."""
    h, wd = x.shape[2], x.shape[3]
    ph = max((-(-h // s) - 1) * s + kh - h, 0)
    pw = max((-(-wd // s) - 1) * s + kw - wd, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def fn_conv(fn, t, name, cout, kh, kw, stride=1, same=False, bias=False, gain=1.0):
    cin = t.x.shape[1]
    k = fn.w.rand((kh, kw, cin, cout), gain * (2.0 / (kh * kw * cin)) ** 0.5)
    ws = [(name + "/kernel:0", k)]
    b = None
    if bias:
        b = fn.w.rand((cout,), 0.05)
        ws.append((name + "/bias:0", b))
    x = tf_same_pad(t.x, kh, kw, stride) if same else t.x
    return T(conv2d(x, k, b, stride=stride), fn.layer(name, [t.id], ws))


def fn_bn(fn, t, name, eps, scale=True):
    c = t.x.shape[1]
    gamma = (fn.w.rand((c,), 0.2) + 1.0).half().float() if scale else None
    beta = fn.w.rand((c,), 0.05)
    mean = fn.w.rand((c,), 0.1)
    var = (torch.rand((c,), generator=fn.w.gen) * 1.5 + 0.5).half().float()
    ws = ([(name + "/gamma:0", gamma)] if scale else []) + [
        (name + "/beta:0", beta), (name + "/moving_mean:0", mean),
        (name + "/moving_variance:0", var)]
    if t.x.dim() == 2:
        y = (t.x - mean) / torch.sqrt(var + eps) * (gamma if scale else 1) + beta
    else:
        y = F.batch_norm(t.x, mean, var, gamma, beta, False, 0.0, eps)
    return T(y, fn.layer(name, [t.id], ws))


def fn_op(fn, name, ts, y):
    """A weightless layer (Activation, Lambda, Add, Concatenate, pools...)."""
    return T(y, fn.layer(name, [t.id for t in ts]))


# ---- Facenet, Facenet512 (deepface Facenet.py, Inception-ResNet-v1) ------------

def facenet_net(fn, x, dim):
    def cbr(t, name, cout, kh, kw, stride=1, same=True):
        t = fn_conv(fn, t, name, cout, kh, kw, stride, same)
        t = fn_bn(fn, t, name + "_BatchNorm", 0.001, scale=False)
        return fn_op(fn, name + "_Activation", [t], F.relu(t.x))

    def residual(t, blk, br, c, scale, relu):
        m = fn_op(fn, blk + "_Concatenate", br, torch.cat([b.x for b in br], 1))
        up = fn_conv(fn, m, blk + "_Conv2d_1x1", c, 1, 1, same=True, bias=True)
        up = fn_op(fn, blk + "_lambda", [up], up.x * scale)
        t = fn_op(fn, blk + "_add", [t, up], t.x + up.x)
        return fn_op(fn, blk + "_Activation", [t], F.relu(t.x)) if relu else t

    t = T(x, 0)
    t = cbr(t, "Conv2d_1a_3x3", 32, 3, 3, 2, same=False)
    t = cbr(t, "Conv2d_2a_3x3", 32, 3, 3, same=False)
    t = cbr(t, "Conv2d_2b_3x3", 64, 3, 3)
    t = fn_op(fn, "MaxPool_3a_3x3", [t], F.max_pool2d(t.x, 3, 2))
    t = cbr(t, "Conv2d_3b_1x1", 80, 1, 1, same=False)
    t = cbr(t, "Conv2d_4a_3x3", 192, 3, 3, same=False)
    t = cbr(t, "Conv2d_4b_3x3", 256, 3, 3, 2, same=False)
    for i in range(1, 6):
        b = "Block35_%d" % i
        b0 = cbr(t, b + "_Branch_0_Conv2d_1x1", 32, 1, 1)
        b1 = cbr(cbr(t, b + "_Branch_1_Conv2d_0a_1x1", 32, 1, 1), b + "_Branch_1_Conv2d_0b_3x3", 32, 3, 3)
        b2 = cbr(t, b + "_Branch_2_Conv2d_0a_1x1", 32, 1, 1)
        b2 = cbr(cbr(b2, b + "_Branch_2_Conv2d_0b_3x3", 32, 3, 3), b + "_Branch_2_Conv2d_0c_3x3", 32, 3, 3)
        t = residual(t, b, [b0, b1, b2], 256, 0.17, True)
    b0 = cbr(t, "Mixed_6a_Branch_0_Conv2d_1a_3x3", 384, 3, 3, 2, same=False)
    b1 = cbr(t, "Mixed_6a_Branch_1_Conv2d_0a_1x1", 192, 1, 1)
    b1 = cbr(b1, "Mixed_6a_Branch_1_Conv2d_0b_3x3", 192, 3, 3)
    b1 = cbr(b1, "Mixed_6a_Branch_1_Conv2d_1a_3x3", 256, 3, 3, 2, same=False)
    b2 = fn_op(fn, "Mixed_6a_Branch_2_MaxPool_1a_3x3", [t], F.max_pool2d(t.x, 3, 2))
    t = fn_op(fn, "Mixed_6a", [b0, b1, b2], torch.cat([b0.x, b1.x, b2.x], 1))
    for i in range(1, 11):
        b = "Block17_%d" % i
        b0 = cbr(t, b + "_Branch_0_Conv2d_1x1", 128, 1, 1)
        b1 = cbr(t, b + "_Branch_1_Conv2d_0a_1x1", 128, 1, 1)
        b1 = cbr(cbr(b1, b + "_Branch_1_Conv2d_0b_1x7", 128, 1, 7), b + "_Branch_1_Conv2d_0c_7x1", 128, 7, 1)
        t = residual(t, b, [b0, b1], 896, 0.1, True)
    b0 = cbr(cbr(t, "Mixed_7a_Branch_0_Conv2d_0a_1x1", 256, 1, 1), "Mixed_7a_Branch_0_Conv2d_1a_3x3", 384, 3, 3, 2, same=False)
    b1 = cbr(cbr(t, "Mixed_7a_Branch_1_Conv2d_0a_1x1", 256, 1, 1), "Mixed_7a_Branch_1_Conv2d_1a_3x3", 256, 3, 3, 2, same=False)
    b2 = cbr(cbr(t, "Mixed_7a_Branch_2_Conv2d_0a_1x1", 256, 1, 1), "Mixed_7a_Branch_2_Conv2d_0b_3x3", 256, 3, 3)
    b2 = cbr(b2, "Mixed_7a_Branch_2_Conv2d_1a_3x3", 256, 3, 3, 2, same=False)
    b3 = fn_op(fn, "Mixed_7a_Branch_3_MaxPool_1a_3x3", [t], F.max_pool2d(t.x, 3, 2))
    t = fn_op(fn, "Mixed_7a", [b0, b1, b2, b3], torch.cat([b0.x, b1.x, b2.x, b3.x], 1))
    for i in range(1, 7):
        b = "Block8_%d" % i
        b0 = cbr(t, b + "_Branch_0_Conv2d_1x1", 192, 1, 1)
        b1 = cbr(t, b + "_Branch_1_Conv2d_0a_1x1", 192, 1, 1)
        b1 = cbr(cbr(b1, b + "_Branch_1_Conv2d_0b_1x3", 192, 1, 3), b + "_Branch_1_Conv2d_0c_3x1", 192, 3, 1)
        t = residual(t, b, [b0, b1], 1792, 0.2 if i < 6 else 1.0, i < 6)
    t = fn_op(fn, "AvgPool", [t], t.x.mean(dim=(2, 3)))
    t = fn_op(fn, "Dropout", [t], t.x)
    k = fn.w.rand((t.x.shape[1], dim), (2.0 / t.x.shape[1]) ** 0.5)
    t = T(t.x @ k, fn.layer("Bottleneck", [t.id], [("Bottleneck/kernel:0", k)]))
    t = fn_bn(fn, t, "Bottleneck_BatchNorm", 0.001, scale=False)
    fn.finish(t.id)
    return t.x


def facenet_arch(name, dim):
    def arch(seed):
        w = Weights(seed)

        def run(x):
            return {name: facenet_net(Functional(w), x, dim)}

        return w, run, (160, 160), np.float16

    return arch


# ---- ArcFace (deepface ArcFace.py, ResNet-34 with PReLU) -------------------------

def fn_prelu(fn, t, name):
    """PReLU(shared_axes=[1, 2]): alpha stored as 1 x 1 x c."""
    c = t.x.shape[1]
    a = (fn.w.rand((1, 1, c), 0.1) + 0.25).half().float()
    return T(F.prelu(t.x, a.reshape(c)), fn.layer(name, [t.id], [(name + "/alpha:0", a)]))


def fn_dense(fn, t, name, cout, bias=True):
    cin = t.x.shape[1]
    k = fn.w.rand((cin, cout), (2.0 / cin) ** 0.5)
    ws = [(name + "/kernel:0", k)]
    y = t.x @ k
    if bias:
        b = fn.w.rand((cout,), 0.05)
        ws.append((name + "/bias:0", b))
        y = y + b
    return T(y, fn.layer(name, [t.id], ws))


def arcface_net(fn, x):
    eps = 2e-5
    t = T(x, 0)
    t = fn_op(fn, "conv1_pad", [t], F.pad(t.x, (1, 1, 1, 1)))
    t = fn_bn(fn, fn_conv(fn, t, "conv1_conv", 64, 3, 3), "conv1_bn", eps)
    t = fn_prelu(fn, t, "conv1_prelu")
    for s, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for b in range(1, blocks + 1):
            name, stride = "conv%d_block%d" % (s + 2, b), 2 if b == 1 else 1
            sc = t
            if b == 1:
                sc = fn_conv(fn, t, name + "_0_conv", filters, 1, 1, stride)
                sc = fn_bn(fn, sc, name + "_0_bn", eps)
            y = fn_bn(fn, t, name + "_1_bn", eps)
            y = fn_op(fn, name + "_1_pad", [y], F.pad(y.x, (1, 1, 1, 1)))
            y = fn_bn(fn, fn_conv(fn, y, name + "_1_conv", filters, 3, 3), name + "_2_bn", eps)
            y = fn_prelu(fn, y, name + "_1_prelu")
            y = fn_op(fn, name + "_2_pad", [y], F.pad(y.x, (1, 1, 1, 1)))
            y = fn_conv(fn, y, name + "_2_conv", filters, 3, 3, stride)
            y = fn_bn(fn, y, name + "_3_bn", eps)
            t = fn_op(fn, name + "_add", [sc, y], sc.x + y.x)
    t = fn_bn(fn, t, "batch_normalization", eps)
    t = fn_op(fn, "dropout", [t], t.x)
    t = fn_op(fn, "flatten", [t], flatten_nhwc(t.x))
    t = fn_dense(fn, t, "dense", 512)
    t = fn_bn(fn, t, "embedding", eps)
    fn.finish(t.id)
    return t.x


def arcface(seed):
    w = Weights(seed)

    def run(x):
        return {"arcface": arcface_net(Functional(w), x)}

    return w, run, (112, 112), np.float16


# ---- VGGFace2 ResNet-50 and SENet-50 (keras-vggface models.py, notop) ------------

def vggface2_norm(x):
    # keras-vggface preprocess_input(version=2) on deepface's BGR 0..1 input
    return x * 255.0 - np.array([91.4953, 103.8827, 131.0912], np.float32)


def vggface2_resnet(se):
    eps = 1e-4 if se else 1e-3

    def cbr(fn, t, name, cout, k, stride=1, relu=True, gain=1.0):
        t = fn_conv(fn, t, name, cout, k, k, stride, same=k > 1, gain=gain)
        t = fn_bn(fn, t, name + "/bn", eps)
        return fn_op(fn, "activation", [t], F.relu(t.x)) if relu else t

    def se_block(fn, t, name):
        c = t.x.shape[1]
        g = fn_op(fn, "global_average_pooling2d", [t], t.x.mean((2, 3), keepdim=True))
        g = fn_op(fn, "reshape", [g], g.x)
        g = fn_conv(fn, g, name + "_1x1_down", c // 16, 1, 1, bias=True)
        g = fn_op(fn, "activation", [g], F.relu(g.x))
        g = fn_conv(fn, g, name + "_1x1_up", c, 1, 1, bias=True)
        g = fn_op(fn, "activation", [g], torch.sigmoid(g.x))
        return fn_op(fn, "multiply", [t, g], t.x * g.x)

    def block(fn, t, f1, f3, stage, b, stride, proj):
        name = "conv%d_%d" % (stage, b)
        y = cbr(fn, t, name + "_1x1_reduce", f1, 1, stride)
        y = cbr(fn, y, name + "_3x3", f1, 3)
        y = cbr(fn, y, name + "_1x1_increase", f3, 1, relu=False)
        if se:
            y = se_block(fn, y, name)
        sc = cbr(fn, t, name + "_1x1_proj", f3, 1, stride, relu=False) if proj else t
        m = fn_op(fn, "add", [y, sc], y.x + sc.x)
        return fn_op(fn, "activation", [m], F.relu(m.x))

    def net(fn, x):
        # conv1 scaled for 0..255 inputs: random BN statistics do not
        # normalise, and SE gates on 100x larger features turn chaotic
        # (float rounding alone then changes the answer)
        t = cbr(fn, T(x, 0), "conv1/7x7_s2", 64, 7, 2, gain=1.0 / 64)
        t = fn_op(fn, "max_pooling2d", [t], F.max_pool2d(t.x, 3, 2))
        for stage, (f1, f3, n) in enumerate([(64, 256, 3), (128, 512, 4), (256, 1024, 6),
                                             (512, 2048, 3)]):
            for b in range(1, n + 1):
                stride = 1 if stage == 0 or b > 1 else 2
                t = block(fn, t, f1, f3, stage + 2, b, stride, b == 1)
        t = fn_op(fn, "avg_pool", [t], F.avg_pool2d(t.x, 7))
        fn.finish(t.id)
        return t.x.flatten(1)

    def arch(seed):
        w = Weights(seed)
        name = "vggface2_senet50" if se else "vggface2_resnet50"

        def run(x):
            return {name: net(Functional(w), x)}

        run.norm = vggface2_norm
        return w, run, (224, 224), np.float16

    return arch


ARCHS = {
    "vgg_face": vgg_face,
    "deepid": deepid,
    "facenet": facenet_arch("facenet", 128),
    "facenet512": facenet_arch("facenet512", 512),
    "fb_deepface": fb_deepface,
    "arcface": arcface,
    "vggface2_resnet50": vggface2_resnet(False),
    "vggface2_senet50": vggface2_resnet(True),
}


# ---- deepface's input preparation ---------------------------------------------

def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6" or int(parts[3]) != 255:
        sys.exit("%s: not a binary 8-bit PPM" % path)
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h * 3], np.uint8).reshape(h, w, 3)


def resize_linear(img, dw, dh):
    """cv2.resize(img, (dw, dh)) with INTER_LINEAR on float data."""
    h, w = img.shape[:2]

    def axis(dst, src):
        f = (np.arange(dst) + 0.5) * (src / dst) - 0.5
        i0 = np.floor(f).astype(np.int64)
        t = f - i0
        t[i0 < 0] = 0
        i0[i0 < 0] = 0
        hi = i0 >= src - 1
        t[hi] = 0
        i0[hi] = src - 1
        i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, t.astype(np.float32)

    y0, y1, ty = axis(dh, h)
    x0, x1, tx = axis(dw, w)
    top = img[y0][:, x0] * (1 - tx)[None, :, None] + img[y0][:, x1] * tx[None, :, None]
    bot = img[y1][:, x0] * (1 - tx)[None, :, None] + img[y1][:, x1] * tx[None, :, None]
    return (top * (1 - ty)[:, None, None] + bot * ty[:, None, None]).astype(np.float32)


def deepface_input(rgb, th, tw):
    """deepface represent: /255, BGR, resize_image (aspect kept, black pad)."""
    img = rgb[:, :, ::-1].astype(np.float32) / 255.0
    factor = min(th / img.shape[0], tw / img.shape[1])
    dw, dh = int(img.shape[1] * factor), int(img.shape[0] * factor)
    img = resize_linear(img, dw, dh)
    d0, d1 = th - img.shape[0], tw - img.shape[1]
    img = np.pad(img, ((d0 // 2, d0 - d0 // 2), (d1 // 2, d1 - d1 // 2), (0, 0)))
    if img.shape[:2] != (th, tw):
        img = resize_linear(img, tw, th)
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--face")
    ap.add_argument("--models", default=",".join(ARCHS))
    ap.add_argument("--inputs", type=int, default=2)
    a = ap.parse_args()
    face = read_ppm(a.face) if a.face else None
    rng = np.random.default_rng(1234)
    lines = []
    for seed, arch in enumerate(a.models.split(",")):
        w, run, (h, wd), dtype = ARCHS[arch](100 + seed)
        xs = [rng.random((h, wd, 3), dtype=np.float32) for _ in range(a.inputs)]
        if face is not None:
            xs.append(getattr(run, "norm", lambda v: v)(deepface_input(face, h, wd)))
        x = np.stack(xs).astype(np.float32)
        outs = run(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
        # after the run: a functional model's layers are known once traced
        w.save(os.path.join(a.outdir, arch + ".h5"), dtype)
        for name, out in outs.items():
            x.tofile(os.path.join(a.outdir, name + ".in.f32"))
            out.numpy().astype(np.float32).tofile(os.path.join(a.outdir, name + ".out.f32"))
            lines.append("%s %s.h5 %d %d %d %d %d\n" % (name, arch, h, wd, len(xs),
                                                       out.shape[1], face is not None))
    with open(os.path.join(a.outdir, "manifest.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
