#!/usr/bin/env bash
# bench_serve.sh BUILD LFW_IMAGES [DURATION] [WORKERS] - make bench-serve:
# requests/s and p50/p99 latency of POST /verify and POST /represent (real
# LFW images as base64 JSON) under wrk at concurrency 1, 2, 8, 32 on
# loopback, and the server's best throughput as a ratio of the same work
# done in-process by the library (bench_serve_inproc: same decode, same
# call, same number of workers). Target: ratio >= 0.9.
#
# soak: bench_serve.sh --soak BUILD LFW_IMAGES [MINUTES] [WORKERS]: /verify
# at saturation (concurrency 4x the queue) for MINUTES (default 10); counts
# replies by status, samples the server's RSS every 10 s, and checks zero
# 5xx other than 503 and RSS within 5% of its value after the first minute.
set -euo pipefail
soak=0
if [ "${1:-}" = "--soak" ]; then soak=1; shift; fi
build=${1:?usage: bench_serve.sh [--soak] BUILD LFW_IMAGES [DURATION|MINUTES] [WORKERS]}
lfw=${2:?LFW images folder}
workers=${4:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "bench-serve: wrk is not installed (apt-get install wrk)"; exit 1; }
img1=$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg
img2=$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg
[ -f "$img1" ] && [ -f "$img2" ] || { echo "bench-serve: no LFW images under $lfw"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
base64 -w0 "$img1" > "$tmp/a.b64"
base64 -w0 "$img2" > "$tmp/b.b64"
printf '{"img1": "%s", "img2": "%s"}' "$(cat "$tmp/a.b64")" "$(cat "$tmp/b.b64")" > "$tmp/verify.json"
printf '{"img": "%s"}' "$(cat "$tmp/a.b64")" > "$tmp/represent.json"

queue=64
"$build/facekit" serve --port 0 --workers "$workers" --queue "$queue" 2> "$tmp/serve.err" &
pid=$!
for _ in $(seq 600); do
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/serve.err" | sed 's/.*://' || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/serve.err"; exit 1; }
url=http://127.0.0.1:$port

echo "# facekit serve benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# server: $workers workers (1 thread each), queue $queue; images: $(basename "$img1"), $(basename "$img2") (LFW, base64 JSON)"

if [ "$soak" = 1 ]; then
  minutes=${3:-10}
  conc=$((4 * queue))
  echo "# soak: POST /verify, $conc connections, $minutes min"
  rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
  ( for _ in $(seq $((minutes * 6))); do sleep 10; echo "$(date +%s) $(rss)"; done ) > "$tmp/rss" &
  sampler=$!
  BODY=$tmp/verify.json wrk -t 2 -c "$conc" -d "${minutes}m" --timeout 60s -s "$here/serve_post.lua" "$url/verify" > "$tmp/wrk.out"
  wait $sampler || true
  cat "$tmp/wrk.out"
  first=$(sed -n 6p "$tmp/rss" | cut -d' ' -f2)
  last=$(tail -1 "$tmp/rss" | cut -d' ' -f2)
  max=$(sort -k2 -n "$tmp/rss" | tail -1 | cut -d' ' -f2)
  echo "rss_kb after 1 min: $first, at the end: $last, max: $max"
  statuses=$(grep '^status' "$tmp/wrk.out")
  bad=$(echo "$statuses" | sed -n 's/.*other5xx:\([0-9]*\).*/\1/p')
  [ -n "$bad" ] || { echo "soak: no status counts from wrk"; exit 1; }
  echo "$statuses"
  echo "5xx other than 503: $bad"
  drift=$(awk -v a="$first" -v b="$max" 'BEGIN {printf "%.1f", (b - a) * 100 / a}')
  echo "rss growth after the first minute: ${drift}% (target <= 5%)"
  awk -v d="$drift" -v b="$bad" 'BEGIN {exit !(d <= 5 && b == 0)}' && echo "soak: PASS" || echo "soak: MISS"
  exit 0
fi

dur=${3:-10s}
best_verify=0
best_represent=0
printf '\n| endpoint | concurrency | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n'
for ep in verify represent; do
  for c in 1 2 8 32; do
    t=$(( c < 2 ? 1 : 2 ))
    BODY=$tmp/$ep.json wrk -t $t -c $c -d "$dur" --timeout 60s --latency -s "$here/serve_post.lua" "$url/$ep" > "$tmp/wrk.out"
    rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.out")
    p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.out")
    ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.1f", n }'; }
    printf '| /%s | %d | %s | %s | %s | %s |\n' "$ep" "$c" "$rps" "$(ms "$p50")" "$(ms "$p99")" "${non2xx:-0}"
    if [ "$ep" = verify ]; then best_verify=$(awk -v a="$best_verify" -v b="$rps" 'BEGIN {print (b > a ? b : a)}')
    else best_represent=$(awk -v a="$best_represent" -v b="$rps" 'BEGIN {print (b > a ? b : a)}'); fi
  done
done
kill -TERM $pid; wait $pid || true
# the same work in-process, about as many items as the server answered in one point
secs=$(echo "$dur" | sed 's/s$//')
printf '\n| endpoint | server best requests/s | in-process items/s (%d workers) | ratio (target >= 0.9) |\n|---|---|---|---|\n' "$workers"
for ep in verify represent; do
  best=$([ $ep = verify ] && echo "$best_verify" || echo "$best_represent")
  items=$(awk -v r="$best" -v s="$secs" -v w="$workers" 'BEGIN {n = int(r * s); if (n < 4 * w) n = 4 * w; print n}')
  if [ $ep = verify ]; then
    inproc=$("$build/bench_serve_inproc" verify "$workers" "$items" "$tmp/a.b64" "$tmp/b.b64" | awk '{print $2}')
  else
    inproc=$("$build/bench_serve_inproc" represent "$workers" "$items" "$tmp/a.b64" | awk '{print $2}')
  fi
  ratio=$(awk -v a="$best" -v b="$inproc" 'BEGIN {printf "%.2f", a / b}')
  printf '| /%s | %s | %s | %s |\n' "$ep" "$best" "$inproc" "$ratio"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
