#!/bin/bash
# Drop-in for Qubes Builder v2's qubesbuilder/plugins/fetch/scripts/
# get-and-verify-source.py (a bash script under the name the fetch plugin
# runs), backed by verify-tag: the same operands (URL CLONE-DIR KEYRING-DIR
# KEYS-DIR), options, defaults, git commands and lines, with no GnuPG home,
# no gpg and no agent. KEYRING-DIR is accepted and left alone.
#
# Differences, on purpose (README, "Qubes Builder v2"):
# - Distinct signers are primary keys: two signing subkeys of one key count
#   once (the original counts the subkeys); a minimum of 0 counts as 1, one
#   of more than four digits is refused (exit 2).
# - A tag's `tag` header must be the name it is published under (a signed
#   v1.0 republished as v3.0 fails); every tag at the commit is read (the
#   original cuts `git tag --points-at` at 500 characters and fails on a
#   seventh tag); verify-tag's policy (SHA-1 data signatures refused unless
#   VERIFY_TAG_FLAGS="--allow-sha1-before DATE"; keys valid now).
# - A signed commit (--less-secure-signed-commits-sufficient) must reach the
#   minimum too: it is one signer.
# - --git-commit is a pin: the fetched commit must be that id, and it is
#   said loudly that it was not verified by signature.
# - --ignore-missing exits 0 only when the remote says the branch or tag
#   does not exist (git ls-remote), never on a network or git failure.
# - Until the commit verified, a failure removes a fresh clone, or an
#   existing repository's FETCH_HEAD (its checkout is untouched).
# - A no-op merge is not run (HEAD already is the verified commit), and
#   git's automatic maintenance runs once the fetch brought a new commit
#   (by the merge, or at the end), not on every up-to-date call.
# - Clones and new repositories are made with git's files ref backend
#   (verify-tag reads refs from files only); an existing repository whose
#   refs are in reftable is refused when verified (exit 2).
#
# Environment: VERIFY_TAG (default: verify-tag on PATH); VERIFY_TAG_FLAGS,
# word-split, passed to it. CHECK, NO_CHECK and ALLOWED_COMPONENTS_* are
# ignored: trust comes from --maintainer or --trust-all-keys only.
# Exit: 0 done; 1 verification failed (or git refused to move the branch);
# 2 bad options, missing key file, no such branch or tag on the remote;
# 3 nothing to verify with (no version tag on a fresh clone); 4 the fetch
# failed (network, remote), else verify-tag's code.
set -euo pipefail
[ "${DEBUG:-}" = "1" ] && set -x
unset CHECK NO_CHECK
for v in ${!ALLOWED_COMPONENTS_@}; do unset "$v"; done

usage() {
  echo "Usage: ${0##*/} [OPTIONS] URL CLONE-DIR KEYRING-DIR KEYS-DIR
Fetch a component's git source into CLONE-DIR and verify it with verify-tag.

Options:
    --git-branch BRANCH        branch (or tag) to build (default: main)
    --git-commit ID            a full commit id: fetched and pinned, not
                               verified by signature; takes precedence
    --clean                    remove CLONE-DIR first
    --shallow-clone            fetch with --depth=1
    --fetch-only               verify, but do not move the checkout
    --fetch-versions-only      only what a v* tag points at
    --ignore-missing           exit 0 when the remote has no such branch
    --insecure-skip-checking   do not verify
    --less-secure-signed-commits-sufficient
                               accept a commit signed by a maintainer when
                               no annotated tag points at it
    --maintainer FPR           a trusted key, KEYS-DIR/FPR.asc (repeatable)
    --trust-all-keys           trust every key file in KEYS-DIR
    --minimum-distinct-maintainers N
                               distinct signers (primary keys) required
                               (default: 1)
    -h, --help                 this help

Environment: VERIFY_TAG (verify-tag), VERIFY_TAG_FLAGS (more options for it).
Exit: 0 done; 1 verification failed; 2 bad options, a missing key file, no
such branch or tag on the remote; 3 no version tag; 4 the fetch failed."
}

# fail CODE MESSAGE...: the message on stdout, as the original prints its
# errors, and exit CODE.
fail() {
  local code=$1
  shift
  printf '%s\n' "$*"
  exit "$code"
}
usage_error() {
  echo "${0##*/}: $*" >&2
  exit 2
}

# Options as argparse takes them: anywhere among the operands, --NAME VALUE
# or --NAME=VALUE, abbreviated to any unique prefix, -- ending them. (In
# the shell, not getopt: one process less on every call.)
options=(help git-branch= git-commit= clean shallow-clone fetch-only fetch-versions-only
  ignore-missing insecure-skip-checking less-secure-signed-commits-sufficient maintainer=
  trust-all-keys minimum-distinct-maintainers=)
git_branch=main git_commit= clean= shallow= fetch_only= versions_only= ignore_missing=
insecure= less_secure= trust_all= minimum=1
maintainers=() operands=()
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --) operands+=("$@"); break ;;
    -h) usage; exit 0 ;;
    --?*) ;;
    -?*) usage >&2; usage_error "unknown option $arg" ;;
    *) operands+=("$arg"); continue ;;
  esac
  name=${arg#--} value= has_value=
  if [[ $name == *=* ]]; then
    value=${name#*=} name=${name%%=*} has_value=1
  fi
  option=
  for o in "${options[@]}"; do
    if [ "${o%=}" = "$name" ]; then
      option=$o
      break
    elif [[ ${o%=} == "$name"* ]]; then
      [ -z "$option" ] || usage_error "ambiguous option --$name"
      option=$o
    fi
  done
  [ -n "$option" ] || { usage >&2; usage_error "unknown option --$name"; }
  if [[ $option == *= ]]; then
    if [ -z "$has_value" ]; then
      [ $# -gt 0 ] || usage_error "--${option%=} needs a value"
      value=$1
      shift
    fi
  elif [ -n "$has_value" ]; then
    usage_error "--$option takes no value"
  fi
  case ${option%=} in
    help) usage; exit 0 ;;
    git-branch) git_branch=$value ;;
    git-commit) git_commit=$value ;;
    clean) clean=1 ;;
    shallow-clone) shallow=1 ;;
    fetch-only) fetch_only=1 ;;
    fetch-versions-only) versions_only=1 ;;
    ignore-missing) ignore_missing=1 ;;
    insecure-skip-checking) insecure=1 ;;
    less-secure-signed-commits-sufficient) less_secure=1 ;;
    maintainer) maintainers+=("$value") ;;
    trust-all-keys) trust_all=1 ;;
    minimum-distinct-maintainers) minimum=$value ;;
  esac
done
set -- ${operands[@]+"${operands[@]}"}
[ $# -eq 4 ] || usage_error "expected URL CLONE-DIR KEYRING-DIR KEYS-DIR, got $# operands"
url=$1 component_dir=$2 keys_dir=$4

# is_oid S: S is a full object id (SHA-1 or SHA-256 hex, lower case);
# is_sha1 S: 40 hex digits of either case. Globs, not [[ =~ ]]: bash compiles
# a regex on every use, and a bounded repeat like {40} costs 0.1 ms each.
is_oid() { [[ (${#1} -eq 40 || ${#1} -eq 64) && $1 != *[^0-9a-f]* ]]; }
is_sha1() { [[ ${#1} -eq 40 && $1 != *[^0-9a-fA-F]* ]]; }

# The original's sanity checks, with its messages.
[[ $git_branch =~ ^[A-Za-z0-9][A-Za-z0-9/._-]+$ ]] || fail 2 "Invalid branch $git_branch"
[[ $component_dir =~ ^/[A-Za-z][A-Za-z0-9/_-]*$ ]] || fail 2 "Invalid repository directory $component_dir"
for m in ${maintainers[@]+"${maintainers[@]}"}; do
  is_sha1 "$m" || fail 2 "Invalid maintainer provided: $m"
done
if [ -n "$trust_all" ] && [ ${#maintainers[@]} -gt 0 ]; then
  fail 2 "--maintainer cannot be used together with --trust-all-keys"
fi
if [ -n "$git_commit" ] && ! is_oid "${git_commit,,}"; then
  fail 2 "Invalid commit $git_commit (a full commit id is needed)"
fi
# Four digits at most: more would wrap bash's 64-bit arithmetic (2^64 + 1
# read as 1), and no component has ten thousand maintainers.
[[ ${#minimum} -ge 1 && ${#minimum} -le 4 && $minimum != *[^0-9]* ]] || fail 2 "Invalid minimum of distinct maintainers: $minimum"
minimum=$((10#$minimum))
# Zero good signatures is never enough.
need=$((minimum > 0 ? minimum : 1))

# The directories as the original resolves them (symlinks followed), once
# the repository is known to exist with a cd -P (no process).
[[ $keys_dir == /* ]] || keys_dir=$PWD/$keys_dir
if [ -z "$clean" ] && [ -d "$component_dir/.git" ]; then
  repo=
else
  repo=$(realpath -m -- "$component_dir")
fi
ref=${git_commit:-$git_branch}
git_options=()
[ -z "$shallow" ] || git_options+=(--depth=1)

# Until the commit verified, a failure leaves nothing unverified where the
# builder looks: a fresh clone is removed, and an existing repository keeps
# its checkout (untouched until then) but loses FETCH_HEAD.
# After a successful run that fetched a new commit into an existing
# repository and did not merge it (the merge starts it), git's automatic
# maintenance, which the fetch was told not to start.
created= verified= maintain=
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -z "$verified" ]; then
    if [ -n "$created" ]; then
      rm -rf -- "$repo"
    elif [ -d "$repo/.git" ]; then
      rm -f -- "$repo/.git/FETCH_HEAD"
    fi
  elif [ "$rc" -eq 0 ] && [ -n "$maintain" ]; then
    git maintenance run --auto --quiet || :
  fi
  exit "$rc"
}
trap cleanup EXIT

# remote_failed WHAT: a fetch or clone failed (git said why on stderr).
# With --ignore-missing, exit 0 if the remote says it has no such ref;
# otherwise fail, 2 when the ref does not exist, 4 when the remote could not
# be asked (network).
remote_failed() {
  local what=$1 rc=0
  if [ -n "$git_commit" ] || is_sha1 "$ref"; then
    # No remote lists commits: that one is missing cannot be learnt.
    fail 4 "---> $what $url $ref failed"
  fi
  git ls-remote --exit-code -q -- "$url" "$ref" >/dev/null 2>&1 || rc=$?
  case $rc in
    2)
      if [ -n "$ignore_missing" ]; then
        [ -z "$created" ] || rm -rf -- "$repo"
        echo "---> $url has no branch or tag $ref; ignored (--ignore-missing)"
        exit 0
      fi
      fail 2 "---> $url has no branch or tag $ref"
      ;;
    0) fail 4 "---> $what $url $ref failed (the remote has $ref)" ;;
    *) fail 4 "---> $what $url $ref failed, and the remote could not be asked whether it has $ref" ;;
  esac
}

# git_run ARGS...: git, quiet unless it fails; then its output and exit 1.
git_run() {
  local out
  out=$(git "$@" 2>&1) || {
    printf '%s\n' "$out" >&2
    fail 1 "---> git $* failed"
  }
}

[ -z "$clean" ] || rm -rf -- "$repo"
fresh=
head= current=
if [ -z "$repo" ] || [ -d "$repo/.git" ]; then
  cd -P -- "${repo:-$component_dir}"
  repo=$PWD
  # Git's stderr goes through (it is quiet unless something fails), so no
  # capture costs a process. No automatic maintenance here: on the
  # up-to-date path it has nothing to do, and the merge that brings new
  # commits runs it (git merge starts `git maintenance run --auto`).
  git fetch --no-auto-maintenance "${git_options[@]}" -q --tags -- "$url" "$ref" || remote_failed "git fetch"
  # The fetched commit, HEAD and its branch, read from the files git just
  # wrote where that is unambiguous (no process on the path every build
  # takes), else from git. FETCH_HEAD's first line is the ref asked for; a
  # branch's id is taken as its commit (verify-tag says which commit it
  # checked, and anything else fails below). HEAD: a loose branch ref, not
  # the reftable placeholder.
  rev= head= current=
  if [ -z "$insecure" ]; then
    # (Unverified, a branch pointing at a tag object would be taken for
    # its commit: only a run that verifies, and so peels, reads the file.)
    { read -r rev kind _ || :; } <.git/FETCH_HEAD
    [ "$kind" = branch ] && is_oid "$rev" || rev=
  fi
  { read -r line || :; } <.git/HEAD
  branch=${line#ref: refs/heads/}
  if [ "$branch" != "$line" ] && [ -n "$branch" ] && [[ $branch != *[[:space:]]* ]] &&
    [ "$branch" != .invalid ] && [ -f ".git/refs/heads/$branch" ]; then
    current=$branch
    { read -r head || :; } <".git/refs/heads/$current"
    is_oid "$head" || head= current=
  fi
  if [ -z "$rev" ] || [ -z "$current" ]; then
    # One git for the three revisions the original asks for one by one.
    if revs=$(git rev-parse -q 'FETCH_HEAD^{commit}' HEAD --abbrev-ref HEAD 2>/dev/null); then
      { read -r rev; read -r head; read -r current; } <<<"$revs"
    else
      rev=$(git rev-parse -q --verify 'FETCH_HEAD^{commit}') || fail 1 "---> FETCH_HEAD is not a commit"
      head= current=
    fi
  fi
  [ "$rev" = "$head" ] || maintain=1
  if [ -n "$versions_only" ]; then
    vtags=$(git tag --list --points-at "$rev" 'v*')
    if [ -z "$vtags" ]; then
      echo "No version tag."
      rm -f .git/FETCH_HEAD
      exit 0
    fi
  fi
  verify_ref=$rev
else
  [ ! -e "$repo" ] && [ ! -L "$repo" ] || rm -rf -- "$repo"
  # A new repository keeps its refs in files, whatever the user's default
  # (init.defaultRefFormat, GIT_DEFAULT_REF_FORMAT; reftable is to become
  # git's): verify-tag reads refs from files only. (An older git ignores the
  # setting: it knows no other backend.)
  unset GIT_DEFAULT_REF_FORMAT
  if [ -n "$git_commit" ] || is_sha1 "$ref"; then
    # git clone cannot take a commit: init, fetch it, point the branch at it.
    tags=()
    is_sha1 "$ref" && tags=(--tags)
    created=1
    mkdir -p -- "$repo"
    cd -- "$repo"
    git_run -c init.defaultRefFormat=files init
    git fetch -q ${tags[@]+"${tags[@]}"} "${git_options[@]}" -- "$url" "$ref" || remote_failed "git fetch"
    git_run reset -q --soft FETCH_HEAD
  else
    created=1
    git -c init.defaultRefFormat=files clone "${git_options[@]}" -n -q -b "$ref" -- "$url" "$repo" ||
      remote_failed "git clone"
    cd -- "$repo"
  fi
  if [ -n "$versions_only" ]; then
    vtag=$(git describe --match='v*' --abbrev=0 HEAD 2>/dev/null) || vtag=
    [[ $vtag == v* ]] || fail 3 "No version tag."
    verify_ref=$vtag^{commit}
  else
    verify_ref=HEAD
  fi
  fresh=1
fi
is_oid "$verify_ref" ||
  verify_ref=$(git rev-parse -q --verify "$verify_ref") ||
  fail 1 "Cannot determine reference to verify!"

check=signed-tag
verify=1
if [ -n "$insecure" ]; then
  verify=
elif [ -n "$less_secure" ]; then
  check=signed-tag-or-commit
elif [ -n "$git_commit" ]; then
  verify=
fi

if [ -n "$git_commit" ] && [ "$verify_ref" != "${git_commit,,}" ]; then
  fail 1 "---> $url gave $verify_ref for the pinned commit $git_commit"
fi

if [ -z "$verify" ]; then
  echo "--> NOT verifying tags"
  if [ -n "$insecure" ]; then
    echo "WARNING: $verify_ref is not verified (--insecure-skip-checking)" >&2
  else
    echo "--> $verify_ref is a pinned commit, not verified by signature (--git-commit)"
    echo "WARNING: $verify_ref is a pinned commit, not verified by signature (--git-commit)" >&2
  fi
else
  if [ "$check" = signed-tag-or-commit ]; then
    echo "--> Verifying tags or commits..."
  else
    echo "--> Verifying tags..."
  fi
  keys=()
  if [ -n "$trust_all" ]; then
    # Every key file, as the original imports every file of KEYS-DIR.
    for f in "$keys_dir"/*; do
      [ -f "$f" ] && keys+=(--keyring "$f")
    done
  fi
  for m in ${maintainers[@]+"${maintainers[@]}"}; do
    [ -f "$keys_dir/$m.asc" ] || fail 2 "Cannot find $keys_dir/$m.asc"
    keys+=(--keyring "$keys_dir/$m.asc" --maintainer "$m")
  done
  if [ ${#keys[@]} -eq 0 ]; then
    fail 1 "---> No trusted key: neither --maintainer nor a key in $keys_dir with --trust-all-keys"
  fi
  # shellcheck disable=SC2206 # word splitting of the flags is the interface
  flags=(${VERIFY_TAG_FLAGS:-})
  rc=0
  json=$("${VERIFY_TAG:-verify-tag}" --json --check "$check" --min-signers "$need" \
    "${keys[@]}" ${flags[@]+"${flags[@]}"} -- "$repo" "$verify_ref") || rc=$?
  json=${json%%$'\n'*}
  # verify-tag's exit code decides; its JSON gives the original's lines
  # and its one stricter rule (annotated tags at the commit hide the
  # commit's own signature), so a misreading can only refuse. Read from
  # it: each annotated tag at the commit, the distinct signers, the
  # commit's own signers. A tag is one object with
  # its keys in order (serde_json sorts them): id, name, reason (a rejected
  # tag's), signers, status. Strings are matched as JSON strings; a quote
  # inside one is escaped, so `{"id":"` cannot start inside a name or a
  # reason, and a name cannot end a match early.
  str='"([^"\\]|\\.)*"'
  tag_re='\{"id":"([0-9a-f]+)","name":'$str',("reason":'$str',)?"signers":\[[^]]*\],"status":"(good|unsigned|rejected)"\}'
  rest=$json tags=0 good=0
  while [[ $rest =~ $tag_re ]]; do
    tags=$((tags + 1))
    if [ "${BASH_REMATCH[5]}" = good ]; then
      good=$((good + 1))
      echo "---> Good tag ${BASH_REMATCH[1]}."
    else
      echo "---> Invalid tag ${BASH_REMATCH[1]}."
    fi
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
  found=0
  if [[ $json =~ \"distinct_signers\":\[([^]]*)\] ]]; then
    s=${BASH_REMATCH[1]//[^,]/}
    [ -z "${BASH_REMATCH[1]}" ] || found=$((${#s} + 1))
  fi
  commit_signed=
  [[ $json =~ \"commit_signers\":\[\" ]] && commit_signed=1
  if [[ ! $json =~ \"commit\":\"$verify_ref\" ]]; then
    # verify-tag did not get as far as the tags: its error is on stderr.
    fail "$((rc ? rc : 1))" "---> verify-tag could not check $verify_ref"
  fi
  if [ "$tags" -gt 0 ]; then
    # As the original: with annotated tags at the commit, they decide
    # (the commit's own signature is not considered).
    if [ "$rc" -ne 0 ] || [ "$good" -eq 0 ] || [ "$found" -lt "$need" ]; then
      fail 1 "Not enough distinct tag signatures. Found $found, mandatory minimum is $need."
    fi
    echo "Enough distinct tag signatures. Found $found, mandatory minimum is $need."
  else
    echo "---> No tag pointing at $verify_ref"
    if [ "$rc" -eq 0 ] && [ -n "$commit_signed" ]; then
      echo "---> $verify_ref does not have a signed tag. However, it is signed by a trusted key, and CHECK is set to $check. Accepting it anyway."
    elif [ -n "$commit_signed" ] && [ "$check" = signed-tag ]; then
      fail 1 "---> $verify_ref is a commit signed by a trusted key. Did the signer forget to add a tag?"
    elif [ -n "$commit_signed" ]; then
      fail 1 "Not enough distinct commit signatures. Found 1, mandatory minimum is $need."
    else
      fail "$((rc == 3 || rc == 0 ? 1 : rc))" "---> Invalid commit $verify_ref."
    fi
  fi
fi

verified=1
[ -z "$fetch_only" ] || exit 0

if [ -z "$current" ]; then
  current=$(git rev-parse --abbrev-ref HEAD) || fail 1 "---> HEAD names no commit"
fi
if [ "$current" != "$ref" ] || [ -n "$fresh" ]; then
  if [ -n "$(git name-rev --name-only "$ref" 2>/dev/null)" ]; then
    echo "--> Switching branch from $current branch to $ref"
    if [ -z "$fresh" ] && ! git merge-base --is-ancestor "$ref" "$verify_ref"; then
      fail 1 "---> $ref is not an ancestor of $verify_ref: refusing to move the branch back or aside"
    fi
    git_run checkout -B "$ref" "$verify_ref"
  else
    echo "--> Switching branch from $current branch to new $ref"
    git_run checkout "$verify_ref" -b "$ref"
  fi
  head=$verify_ref
fi

if [ -z "$fresh" ]; then
  echo "--> Merging..."
  # A merge of HEAD into itself is "Already up to date": not run.
  if [ "$head" != "$verify_ref" ] || [ -e .git/MERGE_HEAD ]; then
    git_run -c merge.verifySignatures=no merge --ff-only --commit -q "$verify_ref"
    maintain= # git merge started it
  fi
  tracking=refs/remotes/origin/$ref
  if [ -f ".git/$tracking" ]; then
    read -r tracked <".git/$tracking" || tracked=
    [ "$tracked" = "$verify_ref" ] || git_run update-ref -- "$tracking" "$verify_ref"
  fi
fi

if [ -e .gitmodules ]; then
  echo "--> Updating submodules"
  git_run submodule init
  git_run submodule update --recursive
fi
