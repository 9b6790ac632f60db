#!/usr/bin/env bash
# fetch-verified against `curl -o` + `gpgv`, and against the physical floor
# max(curl -o alone, openssl dgst with the signature's digest), one run.
# A 1 GiB file is served on 127.0.0.1 by nginx (Debian's nginx-light).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/fetch-verified
REPS=${REPS:-5}
PORT=${PORT:-18181}
mkdir -p "$DIR/www" "$DIR/out"
cd "$DIR"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() {
  for _ in $(seq "$REPS"); do
    rm -f out/*
    /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1
  done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > b ? a : b)}'; }

[ -f www/big.tar ] || head -c 1G /dev/urandom > www/big.tar
if [ ! -f key.asc ]; then
  (cd "$ROOT" && cargo run -q --release --example demo-keys -- keygen "Bench <b@example.org>" "$DIR/key.asc" "$DIR/pub.asc" >/dev/null)
fi
[ -f www/big.tar.asc ] || (cd "$ROOT" && cargo run -q --release --example demo-keys -- sign "$DIR/key.asc" "$DIR/www/big.tar" "$DIR/www/big.tar.asc")
gpg --dearmor < pub.asc > pub.gpg

cat > nginx.conf <<CONF
daemon off; worker_processes 1; pid $DIR/nginx.pid; error_log $DIR/error.log;
events {}
http { access_log off; sendfile on;
  server { listen 127.0.0.1:$PORT; root $DIR/www; } }
CONF
nginx -c "$DIR/nginx.conf" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null || true' EXIT
sleep 0.5
URL=http://127.0.0.1:$PORT/big.tar
cat www/big.tar > /dev/null

fv=$(timeit "$BIN/fetch-verified" --quiet --allow-http --keyring pub.asc -o out/big.tar "$URL" "$URL.asc")
cg=$(timeit sh -c "curl -s -o out/big.tar $URL && curl -s -o out/big.tar.asc $URL.asc && gpgv --keyring ./pub.gpg out/big.tar.asc out/big.tar 2>/dev/null")
cu=$(timeit curl -s -o out/big.tar "$URL")
od=$(timeit openssl dgst -sha512 www/big.tar)
floor=$(max "$cu" "$od")
echo "1 GiB over loopback: fetch-verified ${fv}s  curl+gpgv ${cg}s  curl ${cu}s  openssl dgst -sha512 ${od}s"
echo "  fetch-verified / (curl + gpgv) = $(ratio "$fv" "$cg")x (target <= 0.75)"
echo "  fetch-verified / floor = $(ratio "$fv" "$floor")x (target <= 1.2; floor = max(curl, openssl dgst))"

head -c 1M /dev/urandom > www/small.tar
(cd "$ROOT" && cargo run -q --release --example demo-keys -- sign "$DIR/key.asc" "$DIR/www/small.tar" "$DIR/www/small.tar.asc")
truncate -s 4G www/huge.tar
(cd "$ROOT" && cargo run -q --release --example demo-keys -- sign "$DIR/key.asc" "$DIR/www/huge.tar" "$DIR/www/huge.tar.asc") 2>/dev/null || true
for f in small big huge; do
  [ -f "www/$f.tar.asc" ] || continue
  rm -f out/*
  rss=$( { /usr/bin/time -f %M "$BIN/fetch-verified" --quiet --allow-http --keyring pub.asc -o "out/$f.tar" \
          "http://127.0.0.1:$PORT/$f.tar" "http://127.0.0.1:$PORT/$f.tar.asc" >/dev/null; } 2>&1 | tail -1)
  echo "peak RSS $f.tar ($(stat -c %s "www/$f.tar") bytes): ${rss} KiB (target < 32768)"
done
rm -f out/*
