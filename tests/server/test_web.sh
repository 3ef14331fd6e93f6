#!/usr/bin/env bash
# Browser test of the web page of `facekit serve`: Debian's headless
# chromium drives the page (two uploaded photos, analyze, gallery, the live
# camera from a clip of real face photos) and saves screenshots under
# build/test-web/ (tests/server/web_e2e.py says what it checks). Skips (77)
# without chromium, ffmpeg, python3 or the models.
set -euo pipefail
command -v python3 >/dev/null || { echo "skip: python3 is not installed (make deps-test)"; exit 77; }
command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
  { echo "skip: chromium is not installed (make deps-test)"; exit 77; }
command -v ffmpeg >/dev/null || { echo "skip: ffmpeg is not installed (make deps-test)"; exit 77; }
exec python3 "$FK_SOURCE_DIR/tests/server/web_e2e.py"
