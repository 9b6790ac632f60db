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
