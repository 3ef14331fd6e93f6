#!/usr/bin/env bash
# The README's console examples are real output of the current code: run
# each again with this build's facekit and compare fields and values
# (tests/tools/readme_examples.py says how), and its "facekit vs deepface
# fields" table names what the commands print (tests/tools/readme_fields.py).
# Skips (77) without models.
set -euo pipefail
command -v jq >/dev/null || { echo "skip: jq is not installed (make deps)"; exit 77; }
python3 "$FK_SOURCE_DIR/tests/tools/readme_examples.py" "$FK_SOURCE_DIR/README.md"
exec python3 "$FK_SOURCE_DIR/tests/tools/readme_fields.py" "$FK_SOURCE_DIR/README.md"
