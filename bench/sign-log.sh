#!/usr/bin/env bash
# sign-log receive against a line-by-line Python receiver (bench/py_receiver.py),
# and sign-log verify throughput, in one run: LINES lines of 100 bytes, REPS
# repetitions each, medians reported. Runs once with the logs on the disk
# (BENCH_DIR) and once on tmpfs (TMPFS_DIR, when it exists) to separate the
# receiver's own speed from the disk's (--sync batch fdatasyncs; Python does not).
#   BIN=target/release bash bench/sign-log.sh
set -euo pipefail
TMPFS=${TMPFS_DIR:-/dev/shm}/build-verify-bench-sign-log
LINES=${LINES:-1000000}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need sign-log examples/demo-keys
SL=$BIN/sign-log
bench_dir sign-log

fmt() { awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e9}'; }
# wall time (ns) of "$@", stdin from $IN
timed() { local s e; s=$(ns); "$@" < "$IN" > /dev/null; e=$(ns); echo $((e - s)); }
rss() { { /usr/bin/time -f %M "$@" > /dev/null; } 2>&1 < "${IN:-/dev/null}" | tail -1; }

[ -f "$DIR/input" ] || gen_lines "$LINES" > "$DIR/input"
[ -f "$DIR/key.asc" ] || "$BIN/examples/demo-keys" keygen "Log <log@example.org>" "$DIR/key.asc" "$DIR/pub.asc" > /dev/null
head -c $((LINES / 10 * 100)) "$DIR/input" > "$DIR/small"

places=("$DIR")
if [ -d "$(dirname "$TMPFS")" ]; then mkdir -p "$TMPFS"; places+=("$TMPFS"); fi
echo "sign-log bench: $LINES lines x 100 B, $REPS runs each, medians; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for place in "${places[@]}"; do
  fs=$(stat -f -c %T "$place")
  IN=$DIR/input
  rs=() ps=()
  for _ in $(seq "$REPS"); do
    rm -rf "$place/log" "$place/py.jsonl"
    rs+=("$(timed "$SL" receive --log "$place/log" --name bench --sync batch)")
    ps+=("$(timed python3 "$ROOT/bench/py_receiver.py" "$place/py.jsonl")")
  done
  r=$(printf '%s\n' "${rs[@]}" | median); p=$(printf '%s\n' "${ps[@]}" | median)
  echo "[$fs] receive --sync batch: $(fmt "$r") s = $(awk -v n="$LINES" -v t="$r" 'BEGIN {printf "%.0f", n / t * 1e9}') lines/s (target >= 1,000,000)"
  echo "[$fs] python receiver:      $(fmt "$p") s = $(awk -v n="$LINES" -v t="$p" 'BEGIN {printf "%.0f", n / t * 1e9}') lines/s"
  echo "[$fs] sign-log / python = $(awk -v a="$p" -v b="$r" 'BEGIN {printf "%.1f", a / b}')x (target >= 25)"
  "$SL" seal --log "$place/log" --key "$DIR/key.asc" > /dev/null
  bytes=$(stat -c %s "$place/log/log.jsonl")
  IN=/dev/null
  vs=()
  for _ in $(seq "$REPS"); do vs+=("$(timed "$SL" verify --log "$place/log" --keyring "$DIR/pub.asc")"); done
  v=$(printf '%s\n' "${vs[@]}" | median)
  echo "[$fs] verify $bytes bytes: $(fmt "$v") s = $(awk -v b="$bytes" -v t="$v" 'BEGIN {printf "%.0f", b / t * 1e3}') MB/s (target >= 300)"
done

# Memory: the same peak whatever the log size.
IN=$DIR/small; rm -rf "$DIR/log2"; r_small=$(rss "$SL" receive --log "$DIR/log2" --sync batch)
IN=$DIR/input; rm -rf "$DIR/log"; r_big=$(rss "$SL" receive --log "$DIR/log" --sync batch)
"$SL" seal --log "$DIR/log2" --key "$DIR/key.asc" > /dev/null
"$SL" seal --log "$DIR/log" --key "$DIR/key.asc" > /dev/null
IN=/dev/null
v_small=$(rss "$SL" verify --log "$DIR/log2" --keyring "$DIR/pub.asc")
v_big=$(rss "$SL" verify --log "$DIR/log" --keyring "$DIR/pub.asc")
echo "peak RSS, $((LINES / 10)) vs $LINES lines: receive $r_small / $r_big KiB, verify $v_small / $v_big KiB (flat)"
rm -rf "$TMPFS"
