#!/usr/bin/env bash
# Qubes Builder v2's source step on an up-to-date component: the whole call
# of contrib/qubes-builderv2/get-and-verify-source.py (bash, git, verify-tag)
# against the builder's own get-and-verify-source.py (python3, git, gpg;
# the copy in tests/data/qubes-builderv2), as the fetch plugin runs them:
# URL CLONE-DIR KEYRING-DIR KEYS-DIR --git-branch main
# --minimum-distinct-maintainers 1 and two maintainers (the builder's
# example configurations name two), into a clone that already has
# everything (nothing new to fetch, nothing to merge). The keyring
# directory is new for every run of the original, as in the builder's
# executors (a disposable qube, or a local executor's temporary directory).
# Also the `git fetch` each runs first, alone.
#
# Repository: real Qubes tags, QubesOS/qubes-app-linux-split-gpg:
# tests/data/qubes/split-gpg-source.* (13 tags), or the whole history with
# QUBES_BUNDLE=/path/qubes-app-linux-split-gpg.bundle (202 tags). Keys:
# tests/data/qubes/keys (Marek's 0064428F..., Frédéric Pierret's 9FA64B92...).
# Medians of ROUNDS interleaved rounds of PER runs each.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need verify-tag
DIR=${BENCH_DIR:-/tmp/build-verify-bench}/qubes-builderv2-source
ROUNDS=${ROUNDS:-8}
PER=${PER:-5}
# The system's python3, as the executor's #!/usr/bin/env python3 finds it
# (a version manager's shim on PATH would add its own start-up).
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
export VERIFY_TAG=$BIN/verify-tag
OURS=$ROOT/contrib/qubes-builderv2/get-and-verify-source.py
ORIGINAL=$ROOT/tests/data/qubes-builderv2/get-and-verify-source.py
DATA=$ROOT/tests/data/qubes
MAINTAINERS=(--maintainer 0064428F455451B3EBE78A7F063938BA42CFA724
  --maintainer 9FA64B92F95E706BF28E2CA6484010B5CDC576E2)
# No dots: the original's rule for the component directory.
case $DIR in *.*) echo "BENCH_DIR must have no dots (the original refuses them): $DIR" >&2; exit 2 ;; esac
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GNUPGHOME=$DIR/gnupg-home

if [ -n "${QUBES_BUNDLE:-}" ]; then
  git clone -q --mirror "$QUBES_BUNDLE" remote
  what="the whole history ($(git -C remote tag | wc -l) tags)"
else
  git init -q --bare remote
  cp "$DATA/split-gpg-source.pack" remote/objects/pack/pack-source.pack
  git -C remote index-pack objects/pack/pack-source.pack >/dev/null
  cp "$DATA/split-gpg-source.refs" remote/packed-refs
  cp "$DATA/split-gpg-source.shallow" remote/shallow
  what="tests/data's shallow copy ($(git -C remote tag | wc -l) tags)"
fi
git -C remote symbolic-ref HEAD refs/heads/main
URL=file://$DIR/remote
mkdir -p keys
cp "$DATA"/keys/*.asc keys/

ours() { "$OURS" "$URL" "$DIR/ours" "$DIR/ours-keyring" "$DIR/keys" --git-branch main --minimum-distinct-maintainers 1 "${MAINTAINERS[@]}"; }
original() {
  "$PYTHON" "$ORIGINAL" "$URL" "$DIR/py" "$DIR/py-keyring" "$DIR/keys" --git-branch main --minimum-distinct-maintainers 1 "${MAINTAINERS[@]}"
}
# After each run of the original, untimed: stop the gpg-agent it leaves
# (its gpgconf --kill aims at GNUPGHOME, not the keyring directory) and
# remove the keyring directory, as the disposal of an executor does.
reap() {
  gpgconf --homedir "$DIR/py-keyring" --kill gpg-agent 2>/dev/null || true
  rm -rf "$DIR/py-keyring"
}
# The fetch each starts with, alone: the original's, and the drop-in's
# (without git's automatic maintenance, which the merge of new commits runs).
fetch() { git -C "$DIR/ours" fetch -q --tags -- "$URL" main; }
fetch_ours() { git -C "$DIR/ours" fetch --no-auto-maintenance -q --tags -- "$URL" main; }

# Both clone (and must succeed), then both are up to date: the same lines.
ours >/dev/null
original >/dev/null
reap
a=$(ours) b=$(original)
reap
[ "$a" = "$b" ] || { printf 'the outputs differ:\n%s\n---\n%s\n' "$a" "$b" >&2; exit 1; }
printf '%s\n' "$a" | grep -q -- '--> Merging' || { echo "not the up-to-date path: $a" >&2; exit 1; }

# ms NAME FUNCTION: one run, its wall time appended to times.NAME.
ms() {
  local s e
  s=$EPOCHREALTIME
  "$2" >/dev/null 2>&1 || { echo "$1 failed" >&2; exit 1; }
  e=$EPOCHREALTIME
  awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", (e - s) * 1000}' >> "times.$1"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f times.*
for _ in $(seq "$ROUNDS"); do
  for _ in $(seq "$PER"); do ms original original; reap; done
  for _ in $(seq "$PER"); do ms ours ours; done
  for _ in $(seq "$PER"); do ms fetch fetch; done
  for _ in $(seq "$PER"); do ms fetch_ours fetch_ours; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
median() { sort -n "times.$1" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
fastest() { sort -n "times.$1" | awk 'NR == 1 {printf "%.1f", $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
o=$(median original) u=$(median ours) f=$(median fetch) g=$(median fetch_ours)
echo "Qubes Builder v2 source step, up-to-date component: $what, two maintainers"
echo "(medians of $((ROUNDS * PER)) runs in $ROUNDS interleaved rounds; load $load_before before, $load_after after; $("$PYTHON" --version 2>&1), $(gpg --version | head -1), $(git --version))"
echo "  original (python3 + gpg, fresh GnuPG home): ${o} ms"
echo "  drop-in (bash + git + verify-tag):          ${u} ms: $(ratio "$o" "$u")x faster (target >= 5)"
echo "  the git fetch each starts with, alone:      original ${f} ms ($(pct "$f" "$o") of its call), drop-in ${g} ms ($(pct "$g" "$u") of its call; no auto maintenance)"
echo "  without them: original $(awk -v a="$o" -v b="$f" 'BEGIN {printf "%.1f", a - b}') ms, drop-in $(awk -v a="$u" -v b="$g" 'BEGIN {printf "%.1f", a - b}') ms: $(awk -v a="$o" -v b="$u" -v f="$f" -v g="$g" 'BEGIN {printf "%.1f", (a - f) / (b - g)}')x"
o=$(fastest original) u=$(fastest ours) f=$(fastest fetch) g=$(fastest fetch_ours)
echo "  fastest runs (least disturbed by the load): original ${o} ms, drop-in ${u} ms: $(ratio "$o" "$u")x; the fetches alone ${f} and ${g} ms"
