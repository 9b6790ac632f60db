#!/usr/bin/env bash
# fetch-verified of a stock RPM (verified by its own signature while it
# streams) against what Qubes' builder-rpm does today, in one run:
#   - `curl -o X.UNTRUSTED` + `rpmkeys --checksig | grep 'signatures OK'` + mv
#   - the floor: `curl -o` alone
#   - peak RSS of fetch-verified, 1 MiB and SIZE_MIB packages (flat)
# The RPM (uncompressed payload of random bytes) is built by rpmbuild and
# signed by rpmsign with a throwaway RSA 4096 key; it is served on
# 127.0.0.1 by Python's threading HTTP server (the same server for every
# contender). Data lives under $BENCH_DIR. Usage: bench/fetch-rpm.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-256}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need fetch-verified
FV=$BIN/fetch-verified
bench_dir fetch-rpm www out
bench_rpm_key
[ -d db ] || rpmkeys --dbpath "$DIR/db" --import key.asc
for size in 1 "$SIZE_MIB"; do
  if [ ! -f "www/big$size.rpm" ]; then
    f=$(build_rpm "big$size" $((size << 20)) --define "_binary_payload w.ufdio")
    sign_rpm "$f" && cp "$f" "www/big$size.rpm"
  fi
done
cat www/*.rpm > /dev/null # page cache: the disk is not what we measure

PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory www "$PORT" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f out/*' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$PORT/big1.rpm" && break; sleep 0.1; done
U=http://127.0.0.1:$PORT/big$SIZE_MIB.rpm

cat > qubes.sh <<SH
set -eu
rm -f out/big.rpm out/big.rpm.UNTRUSTED
curl -sf -o out/big.rpm.UNTRUSTED "$U"
rpmkeys --dbpath "$DIR/db" --checksig out/big.rpm.UNTRUSTED | grep -q 'digests signatures OK'
mv out/big.rpm.UNTRUSTED out/big.rpm
SH
cat > fv.sh <<SH
set -eu
rm -f out/big.rpm
exec "$FV" --quiet --allow-http --retries 0 --keyring key.asc -o out/big.rpm "$U"
SH
cat > curl.sh <<SH
rm -f out/big.rpm && exec curl -sf -o out/big.rpm "$U"
SH

echo "fetch-verified RPM bench: ${SIZE_MIB} MiB signed RPM over loopback, median of $REPS interleaved rounds, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
echo "  $(rpmkeys --version), $(curl --version | head -1 | cut -d' ' -f1-2)"
rounds fv="bash fv.sh" qb="bash qubes.sh" cu="bash curl.sh"
echo "fetch-verified ${T_fv}s  curl + rpmkeys --checksig + mv ${T_qb}s  curl -o ${T_cu}s"
echo "  fetch-verified / (curl + rpmkeys) = $(ratio "$T_fv" "$T_qb")x   fetch-verified / curl = $(ratio "$T_fv" "$T_cu")x"
for size in 1 "$SIZE_MIB"; do
  rm -f out/big.rpm
  echo "peak RSS, RPM of $size MiB: $(peak_rss "$FV" --quiet --allow-http --keyring key.asc -o out/big.rpm "http://127.0.0.1:$PORT/big$size.rpm") KiB"
done
