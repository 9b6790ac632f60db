#!/usr/bin/env bash
# verify-tag against the old script's path, `git -c gpg.minTrustLevel=fully
# verify-tag --raw TAG` with a prepared GnuPG home, on a repository with
# hundreds of signed tags and a keyring of RSA-4096 keys; then many
# components in one call against a loop of git verify-tag.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/verify-tag
N=${N:-300}
RUNS=${RUNS:-30}
export GNUPGHOME=$DIR/gnupg
mkdir -p "$DIR"
cd "$DIR"

now() { date +%s.%N; }
per_run_ms() { awk -v s="$1" -v e="$2" -v n="$3" 'BEGIN {printf "%.1f", (e - s) * 1000 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

if [ ! -d "$GNUPGHOME" ]; then
  mkdir -m 700 "$GNUPGHOME"
  for i in 1 2 3; do
    gpg --batch --quiet --passphrase '' --quick-gen-key "Dev $i <dev$i@example.org>" rsa4096 sign never
  done
  gpg --batch --export --armor > keys.asc
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
TAG=v$N

git -C repo -c gpg.minTrustLevel=fully verify-tag --raw "$TAG" 2>/dev/null
"$BIN/verify-tag" --keyring keys.asc repo >/dev/null

s=$(now); for _ in $(seq "$RUNS"); do git -C repo -c gpg.minTrustLevel=fully verify-tag --raw "$TAG" 2>/dev/null; done; e=$(now)
git_ms=$(per_run_ms "$s" "$e" "$RUNS")
s=$(now); for _ in $(seq "$RUNS"); do "$BIN/verify-tag" --keyring keys.asc repo >/dev/null; done; e=$(now)
vt_ms=$(per_run_ms "$s" "$e" "$RUNS")
echo "$N tags, 3 RSA-4096 keys: git verify-tag --raw ${git_ms} ms  verify-tag ${vt_ms} ms"
echo "  git verify-tag / verify-tag = $(ratio "$git_ms" "$vt_ms")x faster (target >= 8)"

for c in $(seq 10); do make_repo "comp$c" 20; done
s=$(now); for _ in $(seq 5); do for c in $(seq 10); do git -C "comp$c" -c gpg.minTrustLevel=fully verify-tag --raw v20 2>/dev/null; done; done; e=$(now)
git10=$(per_run_ms "$s" "$e" 5)
s=$(now); for _ in $(seq 5); do "$BIN/verify-tag" --keyring keys.asc comp{1..10} >/dev/null; done; e=$(now)
vt10=$(per_run_ms "$s" "$e" 5)
echo "10 components: git verify-tag loop ${git10} ms  verify-tag DIR1..DIR10 ${vt10} ms  ($(ratio "$git10" "$vt10")x)"
