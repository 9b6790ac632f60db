#!/usr/bin/env bash
# verify-tag against the old script's path (Qubes scripts/verify-git-tag):
# `git rev-parse`, `git tag --points-at`, then per tag `git rev-parse
# TAG^{commit}` and `git -c gpg.minTrustLevel=fully verify-tag --raw TAG`
# with a prepared GnuPG home and its status lines checked. Also the bare
# `git verify-tag --raw` call alone, a cloned (packed) copy, and ten
# components in one call against the old path in a loop.
# Repository: N annotated tags signed by gpg with one of three RSA-4096 keys.
# Medians of RUNS runs (hyperfine when installed).
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

# median_ms NAME COMMAND...: median wall time of RUNS runs, in ms.
median_ms() {
  local name=$1
  shift
  if command -v hyperfine >/dev/null; then
    hyperfine -N -i -w 3 -r "$RUNS" --export-json "$name.json" "$*" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$name.json"
  else
    local t=() s e
    for _ in $(seq "$RUNS"); do
      s=$(date +%s%N)
      "$@" >/dev/null 2>&1
      e=$(date +%s%N)
      t+=($(((e - s) / 1000)))
    done
    printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] / 1000}'
  fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

old=$(median_ms old ./old-path.sh repo)
bare=$(median_ms bare git -C repo -c gpg.minTrustLevel=fully verify-tag --raw "v$N")
vt=$(median_ms vt "$BIN/verify-tag" --keyring keys.asc repo)
vtc=$(median_ms vtc "$BIN/verify-tag" --keyring keys.asc clone)
oldc=$(median_ms oldc ./old-path.sh clone)
floor=$(median_ms floor "$BIN/verify-tag" --version)
mkdir -p empty
keys=$(median_ms keys "$BIN/verify-tag" --keyring keys.asc empty)
echo "$N tags, 3 RSA-4096 keys (medians of $RUNS runs)"
echo "  loose repository: old script path ${old} ms, verify-tag ${vt} ms: $(ratio "$old" "$vt")x faster (target >= 8)"
echo "  cloned (packed):  old script path ${oldc} ms, verify-tag ${vtc} ms: $(ratio "$oldc" "$vtc")x faster"
echo "  bare git verify-tag --raw (one call, no tag lookup): ${bare} ms; verify-tag is $(ratio "$bare" "$vt")x (loose) / $(ratio "$bare" "$vtc")x (clone) of it"
echo "  verify-tag --version (process start, OpenSSL init): ${floor} ms; with the keyring loaded (empty DIR, exit 4): ${keys} ms"

old10=$(median_ms old10 ./old-path.sh comp{1..10})
vt10=$(median_ms vt10 "$BIN/verify-tag" --keyring keys.asc comp{1..10})
echo "10 components x 20 tags: old script path in a loop ${old10} ms, verify-tag DIR1..DIR10 ${vt10} ms: $(ratio "$old10" "$vt10")x faster"
