# Helpers for the bench scripts (sourced): the setup they share, and
# medians of interleaved rounds. Each round runs every contender once, so a
# change in load (other builds on the machine) hits all of them alike.

# The tools: $BIN, absolute as the scripts cd; by default target/release,
# brought up to date from Cargo.toml's release profile, what ships (a CI
# run in this checkout leaves target/release built with cargo's default
# profile instead, .ci/run: cargo rebuilds them, as the profile differs).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_GIVEN=${BIN:+1}
BIN=${BIN:-$ROOT/target/release}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
REPS=${REPS:-5}
# need TOOL...: each of $BIN/TOOL (examples/NAME for an example): built
# (or found up to date) in release mode unless BIN was given, which must
# then hold it.
need() {
  local t target
  for t; do
    if [ -z "$BIN_GIVEN" ]; then
      case $t in
        examples/*) target=(--example "${t#examples/}") ;;
        *) target=(--bin "$t") ;;
      esac
      (cd "$ROOT" && env -u CARGO_PROFILE_RELEASE_LTO -u CARGO_PROFILE_RELEASE_CODEGEN_UNITS \
        cargo build --quiet --release "${target[@]}")
    fi
    [ -x "$BIN/$t" ] || { echo "no $BIN/$t: build it or set BIN" >&2; exit 2; }
  done
}
# bench_dir NAME [SUBDIR...]: DIR=$BENCH_DIR/NAME (the data lives there,
# never in the repository) and its SUBDIRs, made and entered;
# GNUPGHOME=$DIR/gnupg.
bench_dir() {
  DIR=${BENCH_DIR:-/tmp/build-verify-bench}/$1; shift
  mkdir -p "$DIR"
  cd "$DIR"
  [ $# = 0 ] || mkdir -p "$@"
  export GNUPGHOME=$DIR/gnupg
}
# bench_ed25519_key: a throwaway Ed25519 signing key in $GNUPGHOME; its
# public half as pub.asc (armored, for us) and pub.gpg (binary, for gpgv).
bench_ed25519_key() {
  mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
  if ! gpg -q --batch -K 2>/dev/null | grep -q sec; then
    gpg -q --batch --passphrase '' --quick-gen-key "Bench <bench@example.org>" ed25519 sign never
  fi
  gpg -q --batch --armor --export > pub.asc
  gpg -q --batch --export > pub.gpg
}
# kernel_like_release SIZE_MIB: www/src.tar (a real tar of /usr/include and
# /usr/share, cut to SIZE_MIB), www/src.tar.xz (xz -6) and www/src.tar.sign
# (a detached signature over the .tar by the bench key), as kernel.org
# publishes a release; made once.
kernel_like_release() {
  [ "$(stat -c %s www/src.tar 2>/dev/null || echo 0)" = $(($1 << 20)) ] && return
  # Repeated until head has enough (tar then dies of SIGPIPE, ending the loop).
  { while tar -cf - -C /usr include share 2>/dev/null; do :; done; } | head -c $(($1 << 20)) > www/src.tar || true
  xz -6 -T0 -c www/src.tar > www/src.tar.xz
  gpg -q --batch --yes --digest-algo SHA512 --detach-sign -o www/src.tar.sign www/src.tar
}
# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# gen_lines N: N build-log lines of 100 bytes (a counter and x's).
gen_lines() {
  python3 -c "
import sys
line = ('x' * 93) + '\n'
sys.stdout.write(''.join('%06d' % (i % 1000000) + line for i in range($1)))"
}
# Nanoseconds now, for timings below /usr/bin/time's 10 ms.
ns() { date +%s%N; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# measure FORMAT CMD...: /usr/bin/time's FORMAT field of one run; a
# failing command aborts the benchmark.
measure() {
  local t out fmt=$1; shift
  t=$(mktemp)
  /usr/bin/time -o "$t" -f "$fmt %x" "$@" >/dev/null 2>&1 || true
  out=$(tail -1 "$t"); rm -f "$t"
  [ "${out#* }" = 0 ] || { echo "failed: $* ($out)" >&2; exit 1; }
  echo "${out% *}"
}
# Wall seconds of one run.
wall() { measure %e "$@"; }
# Wall seconds of one run, the output directory out/ emptied first.
once() {
  rm -f out/* out/.??* 2>/dev/null || true
  wall "$@"
}
# Peak RSS in KiB of one run.
peak_rss() { measure %M "$@"; }
# rounds NAME=CMD...: REPS interleaved rounds; sets T_NAME to each median.
rounds() {
  local tmp; tmp=$(mktemp -d)
  for _ in $(seq "$REPS"); do
    for spec in "$@"; do
      local name=${spec%%=*} cmd=${spec#*=}
      # shellcheck disable=SC2086 # cmd is a word list built here
      (cd "${CWD:-.}" && wall $cmd) >> "$tmp/$name"
    done
  done
  for spec in "$@"; do
    local name=${spec%%=*}
    printf -v "T_$name" '%s' "$(median < "$tmp/$name")"
  done
  rm -r "$tmp"
}

# RPM helpers (rpmbuild, rpmsign), in $DIR with GNUPGHOME set by the caller.
# bench_rpm_key: a throwaway RSA signing key, key.asc and key.gpg.
bench_rpm_key() {
  [ -f key.asc ] && return
  rm -rf "$GNUPGHOME" && mkdir -m 700 "$GNUPGHOME"
  # RSA 4096, as Fedora's and RPM Fusion's keys are.
  gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench <bench@example.org>' rsa4096 sign never
  gpg --batch --armor --export bench@example.org > key.asc
  gpg --batch --export bench@example.org > key.gpg
}
sign_rpm() {
  rpmsign --define "__gpg /usr/bin/gpg" --define "_gpg_path $GNUPGHOME" \
    --define "_gpg_name bench@example.org" --addsign "$@" >/dev/null 2>&1
}
build_rpm() { # NAME SIZE-BYTES [extra rpmbuild args]
  local name=$1 size=$2; shift 2
  mkdir -p top/SPECS top/SOURCES
  head -c "$size" /dev/urandom > "top/SOURCES/$name.bin"
  cat > "top/SPECS/$name.spec" <<SPEC
Name: $name
Version: 1.0
Release: 1
Summary: bench
License: MIT
BuildArch: noarch
Source0: $name.bin
%description
bench
%install
mkdir -p %{buildroot}/usr/share/$name
cp %{SOURCE0} %{buildroot}/usr/share/$name/
%files
/usr/share/$name/$name.bin
SPEC
  rpmbuild --quiet --define "_topdir $DIR/top" "$@" -bb "top/SPECS/$name.spec" >/dev/null 2>&1
  echo "top/RPMS/noarch/$name-1.0-1.noarch.rpm"
}
