#!/usr/bin/env bash
# End-to-end test of `facekit serve`: starts the server on a free loopback
# port and drives every endpoint with curl, in every input form, through
# every error case (tests/server/serve_e2e.py says which). Skips (77)
# without models, curl or python3.
set -euo pipefail
command -v curl >/dev/null || { echo "skip: curl is not installed (make deps-test)"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed (make deps-test)"; exit 77; }
exec python3 "$FK_SOURCE_DIR/tests/server/serve_e2e.py"
