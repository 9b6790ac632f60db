#!/usr/bin/env bash
# fetch-verified against its peers, in one run, on one machine:
#   - `curl -o` + `gpgv` (what Makefiles do today)        target: <= 0.75x
#   - the floor max(curl -o alone, openssl dgst -<sig digest>) target: <= 1.2x
#   - peak RSS from 1 MiB to 4 GiB                           target: < 32 MiB, flat
# The files are served on 127.0.0.1 by nginx (a non-daemon with a temporary
# config on a free port), so the server is not the bottleneck. The detached
# signature is made by gpg with an Ed25519 key over SHA-512 (DIGEST=SHA256 to
# change). Medians of REPS runs. Usage: bench/fetch-verified.sh [SIZE_MIB]
set -euo pipefail
DIGEST=${DIGEST:-SHA512}
SIZE_MIB=${1:-1024}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need fetch-verified
bench_dir fetch-verified-gpg www out
max() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > b ? a : b)}'; }

# A throwaway signing key.
bench_ed25519_key
sign() { # (re)sign unless a good signature by this key and digest is there
  gpgv --keyring ./pub.gpg "$1.sig" "$1" 2>&1 | grep -q "using EDDSA" &&
    gpg -q --batch --list-packets "$1.sig" 2>/dev/null | grep -q "digest algo $(digest_id)" ||
    gpg -q --batch --yes --digest-algo "$DIGEST" --detach-sign -o "$1.sig" "$1"
}
digest_id() { case $DIGEST in SHA256) echo 8;; SHA384) echo 9;; SHA512) echo 10;; *) echo x;; esac; }
mkfile() { # NAME MIB: random data (incompressible, like a tarball)
  [ "$(stat -c %s "www/$1" 2>/dev/null || echo 0)" = $(($2 << 20)) ] ||
    head -c "$(($2 << 20))" /dev/urandom > "www/$1"
  sign "www/$1"
}

# nginx on a free port, in the foreground of a background job.
PORT=$(free_port)
cat > nginx.conf <<CONF
daemon off; worker_processes 2; pid $DIR/nginx.pid; error_log $DIR/nginx-error.log;
events {}
http { access_log off; sendfile on; tcp_nopush on;
  types { application/octet-stream sig; } default_type application/octet-stream;
  client_body_temp_path $DIR/tmp; proxy_temp_path $DIR/tmp; fastcgi_temp_path $DIR/tmp;
  uwsgi_temp_path $DIR/tmp; scgi_temp_path $DIR/tmp;
  server { listen 127.0.0.1:$PORT; root $DIR/www; } }
CONF
mkdir -p tmp
nginx -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null || true; rm -f out/* out/.??* 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" -r 0-0 2>/dev/null && break; sleep 0.1; done
U=http://127.0.0.1:$PORT

mkfile big.tar "$SIZE_MIB"
cat www/big.tar > /dev/null # page cache: the disk is not what we measure
dgst=$(echo "$DIGEST" | tr 'A-Z' 'a-z')
FV=("$BIN/fetch-verified" --quiet --allow-http --retries 0 --keyring pub.asc -o out/big.tar "$U/big.tar" "$U/big.tar.sig")

echo "fetch-verified bench: ${SIZE_MIB} MiB over loopback from nginx, signature digest $DIGEST, median of $REPS, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
# Rounds interleave the contenders, so that a machine whose speed drifts
# (a shared VM) slows them alike; each figure is the median of REPS rounds.
fvs=() cgs=() cus=() ods=()
for _ in $(seq "$REPS"); do
  fvs+=("$(once "${FV[@]}")")
  cgs+=("$(once sh -c "curl -sf -o out/big.tar $U/big.tar && curl -sf -o out/big.tar.sig $U/big.tar.sig && gpgv --keyring ./pub.gpg out/big.tar.sig out/big.tar 2>/dev/null")")
  cus+=("$(once curl -sf -o out/big.tar "$U/big.tar")")
  ods+=("$(once openssl dgst "-$dgst" www/big.tar)")
done
fv=$(printf '%s\n' "${fvs[@]}" | median)
cg=$(printf '%s\n' "${cgs[@]}" | median)
cu=$(printf '%s\n' "${cus[@]}" | median)
od=$(printf '%s\n' "${ods[@]}" | median)
floor=$(max "$cu" "$od")
printf '  %-34s %6ss\n' "fetch-verified URL SIG" "$fv" "curl -o + curl sig + gpgv" "$cg" "curl -o" "$cu" "openssl dgst -$dgst" "$od"
echo "  fetch-verified / (curl + gpgv) = $(ratio "$fv" "$cg")x   (target <= 0.75)"
echo "  fetch-verified / floor         = $(ratio "$fv" "$floor")x   (target <= 1.2; floor = max(curl, openssl dgst) = ${floor}s)"

# Peak RSS must not grow with the file: 1 MiB, the big file, 4 GiB (sparse
# on the server side would make it compressible-looking zeros; random data
# is used for the big one, zeros here are fine for memory).
mkfile small.tar 1
[ -f www/huge.tar ] || truncate -s 4G www/huge.tar
sign www/huge.tar
for f in small big huge; do
  rm -f out/* 2>/dev/null || true
  rss=$(peak_rss "$BIN/fetch-verified" --quiet --allow-http --keyring pub.asc -o "out/$f.tar" \
          "$U/$f.tar" "$U/$f.tar.sig")
  echo "  peak RSS $f.tar ($(($(stat -c %s "www/$f.tar") >> 20)) MiB): ${rss} KiB (target < 32768)"
done
