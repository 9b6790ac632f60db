#!/usr/bin/env bash
# fetch-verified --decompress (kernel.org style: a .tar.xz served, the .tar
# signed, the verified .tar stored) against what component Makefiles do, in
# one run, on one machine. file:// URLs: the network is not what is measured.
#   - `xz -dc > .tar` then `gpgv SIG .tar`: the same result (the .tar kept
#     and verified), two passes;
#   - `xzcat | gpgv SIG -`: Qubes linux-kernel's verify-sources today (the
#     .tar is not kept, so the build decompresses it once more);
#   - the floor: `xz -dc > /dev/null`, the C decoder alone.
# The data is a real tar (/usr/include and /usr/share, cut to SIZE_MIB),
# compressed with xz -6. Medians of REPS interleaved rounds.
# Usage: bench/fetch-decompress.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-512}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need fetch-verified
bench_dir fetch-decompress www out
bench_ed25519_key
kernel_like_release "$SIZE_MIB"
U=file://$DIR/www
FV=("$BIN/fetch-verified" --quiet --keyring pub.asc --decompress -o out/src.tar "$U/src.tar.xz" "$U/src.tar.sign")

echo "fetch-verified --decompress bench: ${SIZE_MIB} MiB tar, $(( $(stat -c %s www/src.tar.xz) >> 20 )) MiB as .tar.xz, median of $REPS, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
fvs=() twos=() pipes=() floors=()
for _ in $(seq "$REPS"); do
  fvs+=("$(once "${FV[@]}")")
  twos+=("$(once sh -c "xz -dc www/src.tar.xz > out/src.tar && gpgv --keyring ./pub.gpg www/src.tar.sign out/src.tar 2>/dev/null")")
  pipes+=("$(once sh -c "xzcat www/src.tar.xz | gpgv --keyring ./pub.gpg www/src.tar.sign - 2>/dev/null")")
  floors+=("$(once sh -c "xz -dc www/src.tar.xz > /dev/null")")
done
fv=$(printf '%s\n' "${fvs[@]}" | median)
two=$(printf '%s\n' "${twos[@]}" | median)
pip=$(printf '%s\n' "${pipes[@]}" | median)
floor=$(printf '%s\n' "${floors[@]}" | median)
printf '  %-40s %6ss\n' "fetch-verified --decompress (.tar kept)" "$fv" \
  "xz -dc > .tar && gpgv (.tar kept)" "$two" "xzcat | gpgv - (nothing kept)" "$pip" "xz -dc > /dev/null (floor)" "$floor"
echo "  fetch-verified / (xz -dc && gpgv) = $(ratio "$fv" "$two")x"
echo "  fetch-verified / (xzcat | gpgv)   = $(ratio "$fv" "$pip")x"
echo "  fetch-verified / floor            = $(ratio "$fv" "$floor")x"
rm -f out/*
rss=$(peak_rss "${FV[@]}")
echo "  peak RSS: ${rss} KiB"
gpgconf --kill gpg-agent 2>/dev/null || true
