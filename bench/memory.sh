#!/usr/bin/env bash
# Peak RSS of check-hashes on a hash list at its cap (MAX_LIST, 256 MiB):
# 3,000,000 sha256sum lines, 10 real files, the rest missing
# (--ignore-missing), so the list, not hashing, is what is measured.
# Plain, on stdin, detached-signed and cleartext-signed, with sha256sum -c
# as the peer. Data lives under $BENCH_DIR (default /tmp), 0.5 GB of it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need check-hashes
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/memory
CH=$BIN/check-hashes
mkdir -p "$DIR/data"
cd "$DIR"
export GNUPGHOME=$DIR/gnupg

if [ ! -f SHA256SUMS ]; then
    for i in 0 1 2 3 4 5 6 7 8 9; do head -c 100000 /dev/urandom > "data/file-000000$i.bin"; done
    python3 - <<'PY'
import hashlib, os
with open('SHA256SUMS', 'w') as f:
    for i in range(3_000_000):
        name = f'data/file-{i:07d}.bin'
        d = hashlib.sha256(open(name, 'rb').read()).hexdigest() if i < 10 else os.urandom(32).hex()
        f.write(f'{d}  {name}\n')
PY
    mkdir -p -m 700 gnupg
    gpg -q --batch --passphrase '' --quick-gen-key "bench <b@example.org>" ed25519 sign never
    gpg -q --export --armor > keys.asc
    gpg -q --batch --detach-sign -o SHA256SUMS.gpg SHA256SUMS
    gpg -q --batch --clearsign -o CLEAR.asc SHA256SUMS
fi

peak() { # LABEL CMD...: peak RSS in MiB, user+sys seconds, exit code
    local label=$1 rc=0; shift
    /usr/bin/time -f "%M %U %S" -o time.out "$@" > /dev/null 2> err.out || rc=$?
    tail -1 time.out | awk -v l="$label" -v rc="$rc" \
        '{ printf "%-44s %7.1f MiB  %5.1f s cpu  exit %s\n", l, $1 / 1024, $2 + $3, rc }'
}
echo "256 MiB list, $(wc -l < SHA256SUMS) entries, $(stat -c %s SHA256SUMS) bytes; load $(cut -d' ' -f1-3 /proc/loadavg)"
peak "check-hashes --ignore-missing LIST" "$CH" --ignore-missing SHA256SUMS
peak "check-hashes -c --strict --ignore-missing -" sh -c "\"$CH\" -c --strict --ignore-missing - < SHA256SUMS"
peak "check-hashes --keyring K LIST (LIST.gpg)" "$CH" --keyring keys.asc --ignore-missing SHA256SUMS
peak "check-hashes --keyring K CLEARSIGNED" "$CH" --keyring keys.asc --ignore-missing CLEAR.asc
peak "sha256sum -c --ignore-missing LIST" sha256sum -c --ignore-missing SHA256SUMS
