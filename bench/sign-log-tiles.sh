#!/usr/bin/env bash
# sign-log publish and monitor (c2sp.org/tlog-tiles), in one run, REPS runs
# each, medians:
# - publish a sealed log of LINES lines (LINES + 3 records) into an empty
#   directory, against `cp -r` of the tree it writes (the same files and
#   bytes, nothing hashed: the file system's floor);
# - publish 1,000 new records onto that published log (incremental);
# - monitor: consistency of the published log from a state 1,000 records
#   behind, over HTTP on 127.0.0.1 (python3 -m http.server), against curl
#   fetching the same resources (the transport's floor).
#   BIN=target/release bash bench/sign-log-tiles.sh
set -euo pipefail
LINES=${LINES:-1000000}
TMPFS=${TMPFS_DIR:-/dev/shm}/build-verify-bench-tiles
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need sign-log examples/demo-keys
SL=$BIN/sign-log
bench_dir sign-log-tiles
ORIGIN=bench.example.org/log

ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1e6}'; }
# wall time (ns) of "$@"
timed() { local s e; s=$(ns); "$@" > /dev/null; e=$(ns); echo $((e - s)); }
med() { printf '%s\n' "$@" | median; }

if [ ! -f ready ]; then
  rm -rf log www* state*
  gen_lines "$LINES" > input
  "$BIN/examples/demo-keys" keygen "Log <log@example.org>" key.asc pub.asc > /dev/null
  rm -f note.key
  "$SL" keygen --name "$ORIGIN" --secret note.key > note.vkey
  "$SL" receive --log log --name bench --sync end < input > /dev/null
  "$SL" seal --log log --key key.asc --origin "$ORIGIN" --note-key note.key > /dev/null
  # The same log, 1,000 records (a session of 998 lines) and a seal later.
  cp -r log log2
  gen_lines 998 | "$SL" receive --log log2 --name bench --sync end > /dev/null
  "$SL" seal --log log2 --key key.asc --origin "$ORIGIN" --note-key note.key > /dev/null
  touch ready
fi
first=$(ls log/checkpoints | grep -v asc | sort -n | tail -1)
second=$(ls log2/checkpoints | grep -v asc | sort -n | tail -1)
echo "sign-log publish/monitor bench: $first records, $REPS runs each, medians; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(stat -f -c %T .)"

# Warm: the log in the page cache, as after the seal that precedes a
# publish. Into the disk (the target) and, to tell the tool from the file
# system, into tmpfs when there is one.
cat log/log.jsonl > /dev/null
places=("$DIR")
if [ -d "$(dirname "$TMPFS")" ]; then mkdir -p "$TMPFS"; places+=("$TMPFS"); fi
for place in "${places[@]}"; do
  fs=$(stat -f -c %T "$place")
  ps=() cs=()
  for _ in $(seq "$REPS"); do
    rm -rf "$place/www" "$place/www-copy"
    # Freed blocks are discarded at the next journal commit: not in the run.
    sync
    ps+=("$(timed "$SL" publish --log log --out "$place/www")")
    cs+=("$(timed cp -r "$place/www" "$place/www-copy")")
  done
  p=$(med "${ps[@]}"); c=$(med "${cs[@]}")
  files=$(find "$place/www" -type f | wc -l)
  echo "[$fs] publish $first records ($files files, $(du -sm "$place/www" | cut -f1) MB): $(ms "$p") ms = $(awk -v n="$first" -v t="$p" 'BEGIN {printf "%.0f", n / t * 1e9}') records/s (target >= 1,000,000)"
  echo "[$fs] cp -r of the same tree: $(ms "$c") ms; publish / cp = $(ratio "$p" "$c")x"
done
rm -rf "$TMPFS"

# The same log 1,000 records later, onto the published tree; the published
# checkpoint put back before each run, so each publishes the same increment.
cp www/checkpoint checkpoint.first
is=()
for _ in $(seq "$REPS"); do
  cp checkpoint.first www/checkpoint
  is+=("$(timed "$SL" publish --log log2 --out www)")
done
grep -qx "$second" <(sed -n 2p www/checkpoint) || { echo "the increment was not published" >&2; exit 1; }
i=$(med "${is[@]}")
echo "publish $((second - first)) new records onto $first: $(ms "$i") ms (target < 50)"

# Monitor over loopback from the first checkpoint to the second.
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$port" --directory www > /dev/null 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/checkpoint" > /dev/null && break; sleep 0.1; done
URL=http://127.0.0.1:$port/
monitor() { cp checkpoint.first state; "$SL" monitor --url "$URL" --allow-http --note-key "$(cat note.vkey)" --state state "$@"; }
mapfile -t fetched < <(monitor --json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["fetched"]))')
curl_args=()
for f in "${fetched[@]}"; do curl_args+=(-o /dev/null "$URL$f"); done
ms_=() us=()
for _ in $(seq "$REPS"); do
  ms_+=("$(timed monitor)")
  us+=("$(timed curl -sf "${curl_args[@]}")")
done
m=$(med "${ms_[@]}"); u=$(med "${us[@]}")
echo "monitor consistency $first -> $second over loopback: $(ms "$m") ms, ${#fetched[@]} fetches (${fetched[*]}) (target < 100 ms)"
echo "curl of the same ${#fetched[@]} resources:  $(ms "$u") ms; monitor / curl = $(ratio "$m" "$u")x"
