#!/usr/bin/env bash
# check-hashes against openssl dgst and sha256sum/sha512sum -c, in one run.
# Prints medians of $REPS runs and the ratios the issue sets targets for.
set -euo pipefail
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/check-hashes
REPS=${REPS:-5}
mkdir -p "$DIR"
cd "$DIR"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall seconds of a command, median of REPS runs (page cache warm).
timeit() {
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1
  done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

[ -f big ] || head -c 1G /dev/urandom > big
cat big > /dev/null
sha256sum big > big.sha256sums
sha512sum big > big.sha512sums

ch256=$(timeit "$BIN/check-hashes" big.sha256sums)
os256=$(timeit openssl dgst -sha256 big)
cu256=$(timeit sha256sum -c big.sha256sums)
ch512=$(timeit "$BIN/check-hashes" big.sha512sums)
os512=$(timeit openssl dgst -sha512 big)
cu512=$(timeit sha512sum -c big.sha512sums)
echo "1 GiB SHA-256: check-hashes ${ch256}s  openssl ${os256}s  sha256sum -c ${cu256}s"
echo "  check-hashes / openssl = $(ratio "$ch256" "$os256")x (target <= 1.15)"
echo "  sha256sum -c / check-hashes = $(ratio "$cu256" "$ch256")x faster (target >= 3)"
echo "1 GiB SHA-512: check-hashes ${ch512}s  openssl ${os512}s  sha512sum -c ${cu512}s"
echo "  check-hashes / openssl = $(ratio "$ch512" "$os512")x (target <= 1.15)"

# 20,000 files of 64 KiB.
if [ ! -d many ]; then
  mkdir many
  head -c $((20000 * 65536)) /dev/urandom | split -b 65536 -a 5 -d - many/f
fi
(cd many && sha256sum f* > ../many.sha256sums)
cat many/* > /dev/null
chm=$(cd many && timeit "$BIN/check-hashes" ../many.sha256sums)
cum=$(cd many && timeit sha256sum -c ../many.sha256sums)
echo "20,000 x 64 KiB: check-hashes ${chm}s  sha256sum -c ${cum}s ($(nproc) cores)"
echo "  sha256sum -c / check-hashes = $(ratio "$cum" "$chm")x faster (target >= 1.6)"

# Peak RSS from 1 MiB to 4 GiB (the 4 GiB file is sparse: the reads are real).
head -c 1M /dev/urandom > small
truncate -s 4G huge
for f in small big huge; do
  h=$(sha256sum "$f" | cut -d' ' -f1)
  rss=$( { /usr/bin/time -f %M "$BIN/check-hashes" --sha256 "$h" "$f" >/dev/null; } 2>&1 | tail -1)
  echo "peak RSS $f ($(stat -c %s "$f") bytes): ${rss} KiB (target < 16384)"
done
