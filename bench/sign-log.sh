#!/usr/bin/env bash
# sign-log receive against a line-by-line Python receiver (bench/py_receiver.py),
# and sign-log verify throughput, in one run: 1,000,000 lines of 100 bytes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/sign-log
LINES=${LINES:-1000000}
mkdir -p "$DIR"
cd "$DIR"
now() { date +%s.%N; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.3f", e - s}'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {printf "%.0f", n / t}'; }

[ -f input ] || python3 -c "
import sys
line = ('x' * 93) + '\n'
sys.stdout.write(''.join('%06d' % i + line for i in range($LINES)))" > input
[ -f key.asc ] || (cd "$ROOT" && cargo run -q --release --example demo-keys -- keygen "Log <l@example.org>" "$DIR/key.asc" "$DIR/pub.asc" >/dev/null)

rm -rf log py.jsonl
s=$(now); "$BIN/sign-log" receive --log log --name bench --sync batch < input > /dev/null; e=$(now)
rs=$(secs "$s" "$e")
s=$(now); python3 "$ROOT/bench/py_receiver.py" py.jsonl < input > /dev/null; e=$(now)
ps=$(secs "$s" "$e")
echo "receive $LINES lines x 100 B: sign-log ${rs}s ($(rate "$LINES" "$rs") lines/s)  python ${ps}s ($(rate "$LINES" "$ps") lines/s)"
echo "  sign-log / python throughput = $(awk -v a="$ps" -v b="$rs" 'BEGIN {printf "%.1f", a / b}')x (target >= 25; >= 1,000,000 lines/s)"
"$BIN/sign-log" seal --log log --key key.asc > /dev/null
bytes=$(stat -c %s log/log.jsonl)
s=$(now); "$BIN/sign-log" verify --log log --keyring pub.asc > /dev/null; e=$(now)
vs=$(secs "$s" "$e")
echo "verify: ${bytes} bytes in ${vs}s = $(awk -v b="$bytes" -v t="$vs" 'BEGIN {printf "%.0f", b / t / 1e6}') MB/s (target >= 300)"
rss=$( { /usr/bin/time -f %M "$BIN/sign-log" verify --log log --keyring pub.asc > /dev/null; } 2>&1 | tail -1)
echo "verify peak RSS ${rss} KiB for a ${bytes}-byte log"
head -c $((LINES / 10 * 100)) input > small
rm -rf log2; "$BIN/sign-log" receive --log log2 < small > /dev/null; "$BIN/sign-log" seal --log log2 --key key.asc > /dev/null
rss2=$( { /usr/bin/time -f %M "$BIN/sign-log" verify --log log2 --keyring pub.asc > /dev/null; } 2>&1 | tail -1)
echo "verify peak RSS ${rss2} KiB for a $(stat -c %s log2/log.jsonl)-byte log (flat)"
