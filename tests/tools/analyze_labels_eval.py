#!/usr/bin/env python3
"""analyze_labels_eval.py - age groups and emotions of facekit's analyzers
against the labels of tests/data/age_order.tsv and tests/data/emotion_faces.tsv.

    python3 tests/tools/analyze_labels_eval.py --facekit build/facekit \
        --lfw ../shared/data/lfw-devtrain/images --home ~/.facekit \
        [--age-model M ...] [--emotion-model M ...] [--detector ssd]

Runs `facekit analyze IMG --actions age|emotion` once per labelled image and
model (a whole process per image: slow, but it is the command a user runs)
and picks the labelled face: for rows with a box, the detected face whose
box overlaps it most (IoU, at least 0.3, else the row counts as "missed");
for LFW rows, the face nearest the image centre (the deep-funneled crop is
centred on the named person). Prints Markdown tables:

  age: per group the count, median, mean and range of the predicted ages,
       and the share of pairs from different groups (child < young adult <
       middle-aged < elderly) whose predictions are in the right order
       (a tie counts one half);
  emotion: the confusion table, label rows against predicted columns.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

GROUPS = ["child", "young adult", "middle-aged", "elderly"]
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
HERE = os.path.dirname(os.path.abspath(__file__))


def read_labels(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            box = tuple(float(v) for v in cols[2].split(",")) if len(cols) > 2 else None
            rows.append((cols[0], cols[1], box))
    return rows


def image_path(rel, lfw, home):
    if rel.startswith("face-api/"):
        return os.path.join(home, rel)
    return os.path.join(lfw, rel)


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def pick_face(faces, box, size):
    """The labelled face of a facekit analyze result, or None."""
    if not faces:
        return None
    reg = lambda f: (f["region"]["x"], f["region"]["y"], f["region"]["w"], f["region"]["h"])
    if box is not None:
        best = max(faces, key=lambda f: iou(reg(f), box))
        return best if iou(reg(best), box) >= 0.3 else None
    cx, cy = size[0] / 2, size[1] / 2

    def dist(f):
        x, y, w, h = reg(f)
        return (x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2
    return min(faces, key=dist)


def image_size(path):
    """Width and height from the decoder facekit itself uses: 'facekit detect'
    prints no size, so read JPEG/PNG headers here (LFW is JPEG)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        seglen = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + seglen
    raise ValueError(f"{path}: no image size found")


def analyze(facekit, path, action, model, detector):
    flag = {"age": "--age-model", "emotion": "--emotion-model"}[action]
    cmd = [facekit, "analyze", path, "--actions", action, flag, model,
           "--detector", detector, "--enforce-detection", "false"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def eval_age(args, rows, model):
    ages = {g: [] for g in GROUPS}
    missed = []
    for rel, group, box in rows:
        path = image_path(rel, args.lfw, args.home)
        face = pick_face(analyze(args.facekit, path, "age", model, args.detector), box, image_size(path))
        if face is None:
            missed.append(rel)
            continue
        ages[group].append((float(face["age"]), rel))
    right = pairs = 0.0
    for i, gi in enumerate(GROUPS):
        for gj in GROUPS[i + 1:]:
            for a, _ in ages[gi]:
                for b, _ in ages[gj]:
                    pairs += 1
                    right += 1.0 if a < b else 0.5 if a == b else 0.0
    print(f"\nage model {model}: pairs in the right order {right:.1f}/{pairs:.0f} "
          f"({100 * right / pairs:.1f}%)" + (f"; missed (no face matched): {', '.join(missed)}" if missed else ""))
    print("\n| group | faces | median | mean | range |\n|---|---|---|---|---|")
    for g in GROUPS:
        v = [a for a, _ in ages[g]]
        if v:
            print(f"| {g} | {len(v)} | {statistics.median(v):.0f} | {statistics.mean(v):.1f} | {min(v):.0f}..{max(v):.0f} |")
    if args.verbose:
        for g in GROUPS:
            for a, rel in sorted(ages[g]):
                print(f"  {g:12s} {a:5.1f} {rel}")


def eval_emotion(args, rows, model):
    table = {}
    missed = []
    for rel, label, box in rows:
        path = image_path(rel, args.lfw, args.home)
        face = pick_face(analyze(args.facekit, path, "emotion", model, args.detector), box, image_size(path))
        if face is None:
            missed.append(rel)
            continue
        said = face["dominant_emotion"]
        table.setdefault(label, {}).setdefault(said, 0)
        table[label][said] += 1
        if args.verbose:
            print(f"  {label:8s} -> {said:8s} {rel}")
    total = sum(sum(r.values()) for r in table.values())
    agree = sum(table[l].get(l, 0) for l in table)
    print(f"\nemotion model {model}: {agree}/{total} agree ({100 * agree / total:.1f}%)"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    print("\n| label \\ said | " + " | ".join(EMOTIONS) + " | right |")
    print("|---" * (len(EMOTIONS) + 2) + "|")
    for label in EMOTIONS:
        if label not in table:
            continue
        r = table[label]
        n = sum(r.values())
        print(f"| {label} ({n}) | " + " | ".join(str(r.get(e, "")) for e in EMOTIONS)
              + f" | {100 * r.get(label, 0) / n:.0f}% |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facekit", default="build/facekit")
    ap.add_argument("--lfw", default=os.path.join(HERE, "..", "..", "..", "shared", "data", "lfw-devtrain", "images"))
    ap.add_argument("--home", default=os.environ.get("FACEKIT_HOME", os.path.expanduser("~/.facekit")))
    ap.add_argument("--age-model", action="append", default=[])
    ap.add_argument("--emotion-model", action="append", default=[])
    ap.add_argument("--detector", default="ssd")
    ap.add_argument("--age-labels", default=os.path.join(HERE, "..", "data", "age_order.tsv"))
    ap.add_argument("--emotion-labels", default=os.path.join(HERE, "..", "data", "emotion_faces.tsv"))
    ap.add_argument("--verbose", action="store_true", help="one line per face")
    args = ap.parse_args()
    for m in args.age_model:
        eval_age(args, read_labels(args.age_labels), m)
    for m in args.emotion_model:
        eval_emotion(args, read_labels(args.emotion_labels), m)


if __name__ == "__main__":
    main()
