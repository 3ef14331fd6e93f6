#!/usr/bin/env python3
"""Check (or refresh) the README's command examples against the real CLI.

Every fenced block of the README written as

    ```console
    $ facekit <args> [| jq ...]

(or any bash line naming facekit, e.g. one that makes a scratch folder first)
    <the output it printed>
    ```

is run again with the facekit binary under test ($FK_CLI) and the model home
under test ($FACEKIT_HOME; the README writes it as ~/.facekit). When the
printed output is JSON, the new output must parse and carry the same fields
(the same keys at every level, the same list lengths) with the same values:
strings and booleans equal, numbers within a small tolerance (SIMD paths on
other CPUs round differently), timings (`time`, `seconds`, `time_ms`) only
present. Other output must match line for line after trimming trailing
spaces, except lines naming a timing.

    readme_examples.py README.md            check; exit 1 on any difference
    readme_examples.py README.md --update   rewrite the blocks with what the
                                            commands print now

The C example (the ```c block that opens with "example.c - ") must be
tests/install/example.c, byte for byte: that file is what the install test
builds against the installed library with pkg-config.

Exit 77 (skipped) when the models are not installed.
"""
import json
import os
import re
import subprocess
import sys

TIMING_KEYS = {"time", "seconds", "time_ms"}
BLOCK = re.compile(r"```console\n(\$ [^\n]*facekit [^\n]*)\n(.*?)```", re.S)


def home():
    return os.environ.get("FACEKIT_HOME") or os.path.expanduser("~/.facekit")


def run(command_line):
    """Run one '$ ...' line through bash; returns (stdout, rc)."""
    cli = os.environ.get("FK_CLI", "facekit")
    script = command_line[2:].replace("~/.facekit", home())
    env = dict(os.environ, FACEKIT_HOME=home(), FACEKIT_THREADS="2")
    prelude = 'facekit() { "$FK_CLI_BIN" "$@"; }\nset -o pipefail\n'
    env["FK_CLI_BIN"] = cli
    p = subprocess.run(["bash", "-c", prelude + script], env=env,
                       capture_output=True, text=True, timeout=600)
    out = p.stdout.replace(home(), "~/.facekit")
    return out, p.returncode, p.stderr


def close(a, b):
    return abs(a - b) <= 2e-3 * max(1.0, abs(a), abs(b))


def compare(want, got, path, errors):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            errors.append(f"{path}: object expected, got {type(got).__name__}")
            return
        if set(want) != set(got):
            errors.append(f"{path}: fields {sorted(want)} in the README, "
                          f"{sorted(got)} now")
        for k in want:
            if k in got and k not in TIMING_KEYS:
                compare(want[k], got[k], f"{path}.{k}", errors)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            errors.append(f"{path}: list of {len(want)} in the README, "
                          f"{len(got) if isinstance(got, list) else type(got).__name__} now")
            return
        for i, (w, g) in enumerate(zip(want, got)):
            compare(w, g, f"{path}[{i}]", errors)
    elif isinstance(want, bool) or want is None or isinstance(want, str):
        if want != got:
            errors.append(f"{path}: {want!r} in the README, {got!r} now")
    elif isinstance(want, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not close(want, got):
            errors.append(f"{path}: {want!r} in the README, {got!r} now")


def timing_line(line):
    return re.search(r"\b(time|seconds|ms|images/s|s\))\b", line) is not None


def check_block(cmd, want, got, errors):
    try:
        w = json.loads(want)
    except ValueError:
        w = None
    if w is not None:
        try:
            g = json.loads(got)
        except ValueError as e:
            errors.append(f"{cmd}: output is not JSON any more ({e})")
            return
        errs = []
        compare(w, g, "$", errs)
        errors.extend(f"{cmd}: {e}" for e in errs)
        return
    wl = [l.rstrip() for l in want.rstrip("\n").split("\n")]
    gl = [l.rstrip() for l in got.rstrip("\n").split("\n")]
    if len(wl) != len(gl):
        errors.append(f"{cmd}: {len(wl)} lines in the README, {len(gl)} now")
        return
    for i, (a, b) in enumerate(zip(wl, gl)):
        if a != b and not (timing_line(a) and timing_line(b)):
            errors.append(f"{cmd}: line {i + 1}: {a!r} in the README, {b!r} now")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    readme = sys.argv[1]
    update = "--update" in sys.argv[2:]
    if not os.path.exists(os.path.join(home(), "face-api", "sample1.jpg")):
        print(f"skip: no models in {home()}")
        return 77
    text = open(readme, encoding="utf-8").read()
    errors, blocks = [], 0

    def refresh(m):
        nonlocal blocks
        blocks += 1
        cmd, want = m.group(1), m.group(2)
        got, rc, err = run(cmd)
        if rc != 0:
            errors.append(f"{cmd}: exit {rc}: {err.strip()[:300]}")
            return m.group(0)
        if update:
            return f"```console\n{cmd}\n{got.rstrip()}\n```"
        check_block(cmd, want, got, errors)
        return m.group(0)

    new = BLOCK.sub(refresh, text)
    example = os.path.join(os.path.dirname(os.path.abspath(readme)),
                           "tests", "install", "example.c")
    source = open(example, encoding="utf-8").read()
    c_blocks = [m for m in re.finditer(r"```c\n(.*?)```", new, re.S)
                if "example.c - " in m.group(1)]
    if len(c_blocks) != 1:
        errors.append(f"{len(c_blocks)} C example blocks (want 1: tests/install/example.c)")
    elif c_blocks[0].group(1) != source:
        if update:
            m = c_blocks[0]
            new = new[:m.start(1)] + source + new[m.end(1):]
        else:
            errors.append("the C example differs from tests/install/example.c")
    if update and not errors and new != text:
        open(readme, "w", encoding="utf-8").write(new)
    for e in errors:
        print("README example:", e)
    print(f"{blocks} examples {'refreshed' if update else 'checked'}, "
          f"{len(errors)} problems")
    if blocks == 0:
        print("no examples found: the README lost its console blocks?")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
