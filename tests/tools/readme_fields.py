#!/usr/bin/env python3
"""Check the README's "facekit vs deepface fields" table against the CLI.

The table sits between the lines <!-- fields:begin --> and
<!-- fields:end --> of README.md; each row is

    | command | field | deepface | facekit |

`field` is a path into the command's JSON output: keys joined by dots, []
for "every element of a list" (`[].facial_area.left_eye`,
`results[].matches[].confidence`). The facekit column starts with one word:

    same      the field is printed, as deepface names it
    extra     printed by facekit only
    absent    deepface has it, facekit does not print it (the rest says why)

Each command runs once on the demo photos (commands below); a `same` or
`extra` path must resolve to a value in that output, an `absent` path must
resolve nowhere. A row whose command is not in COMMANDS fails, so the table
cannot name a command this script does not run.

Exit 77 (skipped) when the models are not installed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BEGIN, END = "<!-- fields:begin -->", "<!-- fields:end -->"


def home():
    return os.environ.get("FACEKIT_HOME") or os.path.expanduser("~/.facekit")


def commands(tmp):
    """command name -> argv list; set-up commands run first, in order."""
    s = [os.path.join(home(), "face-api", "sample%d.jpg" % i) for i in range(1, 7)]
    photos = os.path.join(tmp, "photos")
    os.makedirs(photos, exist_ok=True)
    for i in (1, 2, 4, 5):
        shutil.copy(s[i - 1], os.path.join(photos, "sample%d.jpg" % i))
    db = os.path.join(tmp, "gallery.db")
    e1, e3 = os.path.join(tmp, "s1.json"), os.path.join(tmp, "s3.json")
    return [
        ("verify", ["verify", s[0], s[2]], None),
        ("represent", ["represent", s[0]], e1),
        ("_represent3", ["represent", s[2]], e3),
        ("verify --embeddings", ["verify", "--embeddings", e1, e3], None),
        ("detect", ["detect", s[0]], None),
        ("extract-faces", ["extract-faces", s[0]], None),
        ("extract-faces --anti-spoofing", ["extract-faces", s[0], "--anti-spoofing", "true"], None),
        ("represent --anti-spoofing", ["represent", s[0], "--anti-spoofing", "true"], None),
        ("verify --anti-spoofing", ["verify", s[0], s[2], "--anti-spoofing", "true"], None),
        ("analyze", ["analyze", s[0]], None),
        ("analyze --anti-spoofing", ["analyze", s[0], "--anti-spoofing", "true"], None),
        ("find", ["find", s[2], "--db", photos, "--quiet"], None),
        ("register", ["register", s[0], "--db", db], None),
        ("search", ["search", s[2], "--db", db], None),
    ]


def resolve(value, path):
    """Every value the path reaches in value (a list, maybe empty)."""
    found = [value]
    for part in re.findall(r"[^.\[\]]+|\[\]", path):
        nxt = []
        for v in found:
            if part == "[]":
                if isinstance(v, list):
                    nxt.extend(v)
            elif isinstance(v, dict) and part in v:
                nxt.append(v[part])
        found = nxt
    return found


def table_rows(readme):
    text = open(readme, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        sys.exit("README: no %s ... %s table" % (BEGIN, END))
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or set(cells[0]) <= set("-: ") or cells[0] == "command":
            continue
        fields = re.findall(r"`([^`]+)`", cells[1])
        word = re.match(r"[A-Za-z]*", cells[3]).group(0).lower()
        rows.append((cells[0].strip("`"), fields, word))
    return rows


def main():
    readme = sys.argv[1]
    cli = os.environ.get("FK_CLI", "facekit")
    if not os.path.exists(os.path.join(home(), "face-api", "sample1.jpg")):
        print("skip: models not installed")
        return 77
    rows = table_rows(readme)
    failures = 0
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FACEKIT_HOME=home(), FACEKIT_THREADS="2")
        for name, argv, save in commands(tmp):
            p = subprocess.run([cli] + argv, env=env, capture_output=True, text=True,
                               timeout=600)
            if p.returncode != 0:
                print("FAIL: facekit %s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                         p.stderr.strip()))
                failures += 1
                continue
            if save:
                open(save, "w").write(p.stdout)
            outputs[name] = json.loads(p.stdout)
    for command, fields, kind in rows:
        if command not in outputs:
            print("FAIL: table row for '%s': not a command this check runs" % command)
            failures += 1
            continue
        if kind not in ("same", "extra", "absent"):
            print("FAIL: %s %s: facekit column must start with same, extra or absent, not '%s'"
                  % (command, fields, kind))
            failures += 1
            continue
        for field in fields:
            hits = resolve(outputs[command], field)
            if kind == "absent" and hits:
                print("FAIL: %s: `%s` is printed but the table says absent" % (command, field))
                failures += 1
            elif kind != "absent" and not hits:
                print("FAIL: %s: `%s` is not in the output but the table says %s"
                      % (command, field, kind))
                failures += 1
    print("%d table rows checked, %d failures" % (len(rows), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
