#!/usr/bin/env bash
# check-layers.sh [SRC_DIR] - keep the layering of docs/GUIDE (the layer
# table) true, and files short.
#
# 1. Include directions. Every `#include "..."` under SRC_DIR (default:
#    src/ beside this script) must name a header of the file's own layer or
#    of one the table below lets it use; <...> includes are not looked at.
#    The layers, low to high:
#      core                       libc (and facekit.h, the contract)
#      image, nn                  core
#      models                     nn, image, core
#      pipeline: detect, align,   models, image, nn, core, and each other
#        represent, analyze,      (one layer: the stages hand each other
#        verify                   faces and chips)
#      api                        the pipeline and everything under it
#      gallery                    core only: it reaches the pipeline
#                                 through the public API (facekit.h)
#      json                       facekit.h only: the deepface-shaped JSON
#                                 of results, shared by cli and server
#      cli, server, python        facekit.h and their own headers only
#                                 (cli and server: json too; cli: server,
#                                 whose `facekit serve` it dispatches)
#    include/facekit.h is the public contract: any file may include it. A
#    folder not in the table is an error, so a new one gets placed.
# 2. Length. A file under SRC_DIR longer than 800 lines must say why in its
#    header comment: the marker "long file:" and a reason within its first
#    40 lines (e.g. "long file: the three ISAs of one kernel stay together").
#
# Prints one line per violation (file:line: what, and what is allowed) and
# exits 1 if there is any. Bash and awk only (runs on a bare Debian).
set -euo pipefail

src=${1:-$(cd "$(dirname "$0")/../src" && pwd)}
max_lines=800

# Folder -> the folders it may include (its own is always allowed).
declare -A allow=(
  [core]=""
  [image]="core"
  [nn]="core"
  [models]="nn image core"
  [detect]="align represent analyze verify models image nn core"
  [align]="detect represent analyze verify models image nn core"
  [represent]="detect align analyze verify models image nn core"
  [analyze]="detect align represent verify models image nn core"
  [verify]="detect align represent analyze models image nn core"
  [api]="detect align represent analyze verify models image nn core"
  [gallery]="core"
  [json]=""
  [cli]="json server"
  [server]="json"
  [python]=""
)

bad=0
report() { echo "$1"; bad=$((bad + 1)); }

while IFS= read -r -d '' file; do
  rel=${file#"$src"/}
  layer=${rel%%/*}
  name=$(basename "$src")/$rel
  if [ "$layer" = "$rel" ]; then
    layer="" # a file directly in src/
  fi
  if [ -z "$layer" ] || [ -z "${allow[$layer]+x}" ]; then
    report "$name: folder '${layer:-.}' is not in the layer table of scripts/check-layers.sh"
    continue
  fi
  # file:line:header for every quoted include
  while IFS=: read -r line header; do
    [ -n "$header" ] || continue
    if [ "$header" = "facekit.h" ]; then continue; fi
    if [[ $header != */* ]]; then
      # "x.h" is found beside the including file first.
      if [ -e "$(dirname "$file")/$header" ]; then continue; fi
      report "$name:$line: #include \"$header\": not beside the file; name it by folder (\"core/$header\")"
      continue
    fi
    target=${header%%/*}
    if [ "$target" = "$layer" ]; then continue; fi
    ok=0
    for a in ${allow[$layer]}; do
      if [ "$a" = "$target" ]; then ok=1; break; fi
    done
    if [ "$ok" -eq 0 ]; then
      allowed=$(echo $layer ${allow[$layer]} facekit.h | sed 's/ /, /g')
      report "$name:$line: $layer may not include \"$header\" (layer $target); $layer may include: $allowed"
    fi
  done < <(awk '/^[ \t]*#[ \t]*include[ \t]*"/ {
                  h = $0; sub(/^[^"]*"/, "", h); sub(/".*$/, "", h);
                  print FNR ":" h }' "$file")

  lines=$(wc -l <"$file")
  if [ "$lines" -gt "$max_lines" ] && ! head -n 40 "$file" | grep -q "long file:"; then
    report "$name: $lines lines (over $max_lines): split it, or say why in its header comment (\"long file: <reason>\" in the first 40 lines)"
  fi
done < <(find "$src" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.cc' \
                                -o -name '*.hpp' -o -name '*.py' -o -name '*.js' \) -print0 | sort -z)

if [ "$bad" -gt 0 ]; then
  echo "check-layers: $bad violation(s) under $src"
  exit 1
fi
echo "check-layers: ok ($src)"
