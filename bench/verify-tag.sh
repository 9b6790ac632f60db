#!/usr/bin/env bash
# verify-tag against the old script's path (Qubes scripts/verify-git-tag):
# `git rev-parse`, `git tag --points-at`, then per tag `git rev-parse
# TAG^{commit}` and `git -c gpg.minTrustLevel=fully verify-tag --raw TAG`
# with a prepared GnuPG home and its status lines checked. Also the bare
# `git verify-tag --raw` call alone, a cloned (packed) copy, and ten
# components in one call against the old path in a loop.
# Repository: N annotated tags signed by gpg with one of three RSA-4096 keys.
# Medians of RUNS runs in ROUNDS interleaved rounds (hyperfine when
# installed), and the floor of bench/openssl-floor.c when a C compiler is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${BIN:-$ROOT/target/release}" && pwd)
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/verify-tag
N=${N:-300}
RUNS=${RUNS:-40}
export GNUPGHOME=$DIR/gnupg
mkdir -p "$DIR"
cd "$DIR"

if [ ! -d "$GNUPGHOME" ]; then
  mkdir -m 700 "$GNUPGHOME"
  for i in 1 2 3; do
    gpg --batch --quiet --passphrase '' --quick-gen-key "Dev $i <dev$i@example.org>" rsa4096 sign never
  done
  gpg --batch --export --armor > keys.asc
  # Ultimate ownertrust, as the old script gives the Qubes master key.
  gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10 ":6:"}' | gpg --batch --import-ownertrust
fi
FPR=$(gpg --batch --with-colons --list-keys "dev1@example.org" | awk -F: '/^fpr/ {print $10; exit}')

make_repo() {
  local r=$1 tags=$2
  [ -d "$r" ] && return
  git init -q -b main "$r"
  for i in $(seq "$tags"); do
    git -C "$r" -c user.name=Dev -c user.email=dev1@example.org commit -q --allow-empty -m "c$i"
    git -C "$r" -c user.name=Dev -c user.email=dev1@example.org -c user.signingkey="$FPR" tag -s -m "v$i" "v$i"
  done
}
make_repo repo "$N"
# What a builder has: a clone (objects in a pack, refs in packed-refs).
[ -d clone ] || git clone -q --no-local repo clone
for c in $(seq 10); do make_repo "comp$c" 20; done

# The old script's path, command for command, for one or more repositories.
cat > old-path.sh <<'EOF'
#!/bin/bash
set -euo pipefail
rc=0
for dir in "$@"; do
  (
    cd "$dir"
    rev=$(git rev-parse --verify -q HEAD)
    ok=0
    for tag in $(git tag "--points-at=$rev" | head -c 500); do
      [ "$(git rev-parse -q --verify "refs/tags/$tag^{commit}")" = "$rev" ] || continue
      out=$(git -c gpg.minTrustLevel=fully verify-tag --raw "refs/tags/$tag" 2>&1 >/dev/null) || continue
      [ "$(printf '%s\n' "$out" | grep -c '^\[GNUPG:] NEWSIG')" = 1 ] || continue
      printf '%s\n' "$out" | grep -q '^\[GNUPG:] TRUST_\(FULLY\|ULTIMATE\) 0 pgp$' && { echo "---> Good tag $tag"; ok=1; }
    done
    [ "$ok" = 1 ]
  ) || rc=1
done
exit $rc
EOF
chmod +x old-path.sh

# Both sides must succeed before anything is timed.
./old-path.sh repo >/dev/null
./old-path.sh comp{1..10} >/dev/null
"$BIN/verify-tag" --keyring keys.asc repo >/dev/null 2>&1
"$BIN/verify-tag" --keyring keys.asc clone >/dev/null 2>&1
"$BIN/verify-tag" --keyring keys.asc comp{1..10} >/dev/null 2>&1

# The least any tool on the OpenSSL backend does per run (see the file).
floor_bin=
if command -v cc >/dev/null; then
  cc -O2 "$ROOT/bench/openssl-floor.c" -o openssl-floor -lcrypto && ./openssl-floor && floor_bin=./openssl-floor
fi
mkdir -p empty

# The contenders, timed in interleaved rounds (this VM's speed drifts by
# up to 2x within minutes): each round runs every command PER times.
# NAME|COMMAND lines; the medians are over all ROUNDS x PER runs.
ROUNDS=${ROUNDS:-8}
PER=$(((RUNS + ROUNDS - 1) / ROUNDS))
contenders=(
  "old|./old-path.sh repo"
  "vt|$BIN/verify-tag --keyring keys.asc repo"
  "oldc|./old-path.sh clone"
  "vtc|$BIN/verify-tag --keyring keys.asc clone"
  "bare|git -C repo -c gpg.minTrustLevel=fully verify-tag --raw v$N"
  "version|$BIN/verify-tag --version"
  "keys|$BIN/verify-tag --keyring keys.asc empty"
  "old10|./old-path.sh $(echo comp{1..10})"
  "vt10|$BIN/verify-tag --keyring keys.asc $(echo comp{1..10})"
)
[ -n "$floor_bin" ] && contenders+=("floor|$floor_bin")
rm -f times.*
for _ in $(seq "$ROUNDS"); do
  for c in "${contenders[@]}"; do
    name=${c%%|*}
    cmd=${c#*|}
    if command -v hyperfine >/dev/null; then
      hyperfine -N -i -w 1 -r "$PER" --export-json round.json "$cmd" >/dev/null 2>&1
      python3 -c 'import json,sys; print("\n".join("%f" % (t * 1000) for t in json.load(open(sys.argv[1]))["results"][0]["times"]))' round.json >> "times.$name"
    else
      for _ in $(seq "$PER"); do
        s=$EPOCHREALTIME
        $cmd >/dev/null 2>&1 || true
        e=$EPOCHREALTIME
        awk -v s="$s" -v e="$e" 'BEGIN {printf "%f\n", (e - s) * 1000}' >> "times.$name"
      done
    fi
  done
done
# median NAME: the median of NAME's runs, in ms.
median() { sort -n "times.$1" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

old=$(median old) vt=$(median vt) oldc=$(median oldc) vtc=$(median vtc) bare=$(median bare)
echo "$N tags, 3 RSA-4096 keys (medians of $((ROUNDS * PER)) runs in $ROUNDS interleaved rounds)"
echo "  loose repository: old script path ${old} ms, verify-tag ${vt} ms: $(ratio "$old" "$vt")x faster (target >= 8)"
echo "  cloned (packed):  old script path ${oldc} ms, verify-tag ${vtc} ms: $(ratio "$oldc" "$vtc")x faster"
echo "  bare git verify-tag --raw (one call, no tag lookup): ${bare} ms; verify-tag is $(ratio "$bare" "$vt")x (loose) / $(ratio "$bare" "$vtc")x (clone) of it"
echo "  verify-tag --version (process start, OpenSSL init): $(median version) ms; with the keyring loaded (empty DIR, exit 2): $(median keys) ms"
if [ -n "$floor_bin" ]; then
  floor=$(median floor)
  echo "  OpenSSL floor (bench/openssl-floor.c: init, context, SHA-1/SHA-256, RSA-4096 import, 2 verifications; no git): ${floor} ms"
  echo "    = the most any OpenSSL-backend tool can be: $(ratio "$old" "$floor")x (loose) / $(ratio "$oldc" "$floor")x (clone) the old path"
fi
old10=$(median old10) vt10=$(median vt10)
echo "10 components x 20 tags: old script path in a loop ${old10} ms, verify-tag DIR1..DIR10 ${vt10} ms: $(ratio "$old10" "$vt10")x faster"
