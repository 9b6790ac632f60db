#!/usr/bin/env bash
# check-hashes against openssl dgst and sha256sum/sha512sum -c, in one run.
# Each round runs every contender once, interleaved, so a change in load
# (other builds on the machine) hits all of them alike; the medians of
# $REPS rounds are printed with the ratios the issue sets targets for.
# Data lives under $BENCH_DIR (default /tmp), never in the repository.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need check-hashes
CH=$BIN/check-hashes
bench_dir check-hashes

echo "check-hashes benchmark: $(nproc) cores, $REPS interleaved rounds, medians, page cache warm"
echo "  $(openssl version | cut -d' ' -f1-2), $(sha256sum --version | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"

[ -f big ] || head -c 1G /dev/urandom > big
sha256sum big > big.sha256sums
sha512sum big > big.sha512sums
cat big > /dev/null

rounds ch256="$CH big.sha256sums" os256="openssl dgst -sha256 big" cu256="sha256sum -c big.sha256sums"
echo "1 GiB SHA-256: check-hashes ${T_ch256}s  openssl ${T_os256}s  sha256sum -c ${T_cu256}s"
echo "  check-hashes / openssl dgst -sha256 = $(ratio "$T_ch256" "$T_os256")x (target <= 1.15)"
echo "  sha256sum -c / check-hashes = $(ratio "$T_cu256" "$T_ch256")x faster (target >= 3)"

rounds ch512="$CH big.sha512sums" os512="openssl dgst -sha512 big" cu512="sha512sum -c big.sha512sums"
echo "1 GiB SHA-512: check-hashes ${T_ch512}s  openssl ${T_os512}s  sha512sum -c ${T_cu512}s"
echo "  check-hashes / openssl dgst -sha512 = $(ratio "$T_ch512" "$T_os512")x (target <= 1.15)"
echo "  sha512sum -c / check-hashes = $(ratio "$T_cu512" "$T_ch512")x faster"

# 20,000 files of 64 KiB.
if [ ! -f many/f19999 ]; then
  rm -rf many && mkdir many
  head -c $((20000 * 65536)) /dev/urandom | split -b 65536 -a 5 -d - many/f
fi
(cd many && sha256sum f* > ../many.sha256sums)
cat many/* > /dev/null
CWD=many rounds chm="$CH ../many.sha256sums" cum="sha256sum -c ../many.sha256sums"
echo "20,000 x 64 KiB SHA-256: check-hashes ${T_chm}s  sha256sum -c ${T_cum}s"
echo "  sha256sum -c / check-hashes = $(ratio "$T_cum" "$T_chm")x faster (target >= 1.6)"

# Peak RSS from 1 MiB to 4 GiB (the 4 GiB file is sparse: the reads are real).
[ -f small ] || head -c 1M /dev/urandom > small
[ "$(stat -c %s huge 2>/dev/null)" = 4294967296 ] || { rm -f huge; truncate -s 4G huge; }
for f in small big huge; do
  [ -f "$f.sha256sums" ] && [ "$f.sha256sums" -nt "$f" ] || sha256sum "$f" > "$f.sha256sums"
  rss=$(peak_rss "$CH" "$f.sha256sums")
  echo "peak RSS, $f ($(stat -c %s "$f") bytes): ${rss} KiB (target < 16384)"
done
