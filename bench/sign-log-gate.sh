#!/usr/bin/env bash
# sign-log gate and agree, against their floors, in one run:
# - the gate for one artifact against a log of LINES records: the whole call
#   (keys, evidence, signature, proofs, state, hashing) next to
#   `openssl dgst -sha256` over the same artifact, 100 MiB (target <= 1.3x)
#   and 1 KiB (target < 10 ms), rounds interleaved, medians;
# - agree over three LINES-record logs sealed by three keys: MB/s of log
#   read (target >= 500 MB/s).
#   cargo build --release --bin sign-log --example demo-keys
#   BIN=target/release bash bench/sign-log-gate.sh
set -euo pipefail
LINES=${LINES:-1000000}
REPS=${REPS:-11}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need sign-log examples/demo-keys
SL=$BIN/sign-log
bench_dir sign-log-gate

ms() { awk -v n="$1" 'BEGIN {printf "%.2f", n / 1e6}'; }

[ -f big.bin ] || head -c $((100 << 20)) /dev/urandom > big.bin
[ -f small.bin ] || head -c 1024 /dev/urandom > small.bin
for n in 1 2 3; do
  [ -f "key$n.asc" ] || "$BIN/examples/demo-keys" keygen "Builder $n <b$n@example.org>" "key$n.asc" "pub$n.asc" > /dev/null
done
# One log per builder: LINES records, the products' directives in the middle.
for n in 1 2 3; do
  [ -f "log$n/checkpoints/.done" ] && continue
  rm -rf "log$n"
  gen_lines $((LINES / 2)) > input-a
  gen_lines $((LINES - LINES / 2 - 4)) > input-b
  { cat input-a; "$SL" hash big.bin small.bin; cat input-b; } |
    "$SL" receive --log "log$n" --name core-admin --sync end > /dev/null
  "$SL" seal --log "log$n" --key "key$n.asc" > /dev/null
  touch "log$n/checkpoints/.done"
done
rm -f input-a input-b
records=$(wc -l < log1/log.jsonl)
s=$(ns); "$SL" prove product --log log1 --file big.bin --file small.bin --from-size 0 > ev.json; e=$(ns)
echo "sign-log gate bench: $records records, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "log side: prove product (two products, two passes over the log): $(ms $((e - s))) ms"
rm -f gate.json gate.json.lock
"$SL" gate --keyring pub1.asc --proof ev.json --state gate.json big.bin > /dev/null 2>&1

# Page cache warm for all; rounds interleaved (the VM's speed drifts).
cat big.bin small.bin > /dev/null
for art in big.bin small.bin; do
  g=() o=()
  for _ in $(seq "$REPS"); do
    s=$(ns); "$SL" gate --keyring pub1.asc --proof ev.json --state gate.json "$art" > /dev/null; e=$(ns); g+=($((e - s)))
    s=$(ns); openssl dgst -sha256 "$art" > /dev/null; e=$(ns); o+=($((e - s)))
  done
  gm=$(printf '%s\n' "${g[@]}" | median); om=$(printf '%s\n' "${o[@]}" | median)
  echo "[$art $(stat -c %s "$art") B] gate $(ms "$gm") ms, openssl dgst -sha256 $(ms "$om") ms: $(awk -v a="$gm" -v b="$om" 'BEGIN {printf "%.2f", a / b}')x"
done
echo "targets: 100 MiB <= 1.3x openssl; 1 KiB < 10 ms"

bytes=$(($(stat -c %s log1/log.jsonl) + $(stat -c %s log2/log.jsonl) + $(stat -c %s log3/log.jsonl)))
cat log1/log.jsonl log2/log.jsonl log3/log.jsonl > /dev/null
a=() v=()
for _ in $(seq 5); do
  s=$(ns); "$SL" agree --log log1 --log log2 --log log3 --keyring pub1.asc --keyring pub2.asc --keyring pub3.asc > /dev/null; e=$(ns); a+=($((e - s)))
  s=$(ns); "$SL" verify --log log1 --keyring pub1.asc > /dev/null 2>&1; e=$(ns); v+=($((e - s)))
done
am=$(printf '%s\n' "${a[@]}" | median); vm=$(printf '%s\n' "${v[@]}" | median)
one=$(stat -c %s log1/log.jsonl)
echo "agree over 3 logs, $bytes B: $(ms "$am") ms = $(awk -v b="$bytes" -v t="$am" 'BEGIN {printf "%.0f", b / t * 1e3}') MB/s (target >= 500)"
echo "verify of one log, $one B: $(ms "$vm") ms = $(awk -v b="$one" -v t="$vm" 'BEGIN {printf "%.0f", b / t * 1e3}') MB/s"
