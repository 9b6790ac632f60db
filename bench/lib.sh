# Helpers for the bench scripts (sourced): medians of interleaved rounds.
# Each round runs every contender once, so a change in load (other builds
# on the machine) hits all of them alike.

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
