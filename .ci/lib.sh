# Sourced by .ci/run and .ci/packages: timed steps, and at exit the table of
# each step's wall and CPU (user+sys of the step and everything it ran) time.
# CPU time is what a step costs on an idle machine whatever the load: wall
# time on the shared 2-core machine grows with the other builds running.
#
#   ci_step NAME COMMAND [ARG...]   run COMMAND (a function too: it runs in
#                                   this shell, its variables stay set), timed
#   ci_cargo_test_some ARG...       cargo test ARG..., which must run a test
#
# Steps may run in the background (`ci_step NAME cmd &`): each appends its
# own line to $CI_TIMES. The outermost script that sourced this file owns
# the table and prints it at exit, on failure too (the failed step marked).

if [ -z "${CI_TIMES:-}" ]; then
  CI_TIMES=$(mktemp "${TMPDIR:-/tmp}/ci-times.XXXXXX")
  export CI_TIMES
  ci_times_owner=$BASHPID
  ci_started=$(date +%s.%N)
  # The load beside the run: the 1-minute load average every 15 s.
  ci_load=$(mktemp "${TMPDIR:-/tmp}/ci-load.XXXXXX")
  # (It ends with the script, even one killed without its exit trap.)
  (while kill -0 "$ci_times_owner" 2>/dev/null; do cut -d' ' -f1 /proc/loadavg; sleep 15; done >"$ci_load") &
  ci_load_sampler=$!
fi
ci_current=

# (Its locals are _ci_*: a step's function sees them, bash scoping being
# dynamic, and must not find its own variables, such as a name, shadowed.)
ci_step() {
  local _ci_name=$1 _ci_tf _ci_wall _ci_user _ci_sys
  shift
  _ci_tf=$(mktemp "${TMPDIR:-/tmp}/ci-step.XXXXXX")
  printf '\n== %s\n' "$_ci_name"
  ci_current=$_ci_name
  # `time` reports on the group's stderr (the file); the step's own stderr
  # goes to the original one (fd 3). Under set -e a failing step ends the
  # script here; the exit trap reports it.
  local TIMEFORMAT='%R %U %S'
  { time "$@" 2>&3; } 3>&2 2>"$_ci_tf"
  ci_current=
  read -r _ci_wall _ci_user _ci_sys <"$_ci_tf"
  rm -f "$_ci_tf"
  awk -v n="$_ci_name" -v w="$_ci_wall" -v u="$_ci_user" -v s="$_ci_sys" \
    'BEGIN { printf "%s\t%s\t%.2f\n", n, w, u + s }' >>"$CI_TIMES"
}

# cargo test ARG...: fails also when it ran no test at all, so that a step
# selecting tests by name cannot pass silently once they are renamed.
ci_cargo_test_some() {
  local _ci_out _ci_n
  _ci_out=$(mktemp "${TMPDIR:-/tmp}/ci-test.XXXXXX")
  cargo test "$@" 2>&1 | tee "$_ci_out"
  _ci_n=$(awk '/^test result: / { n += $4 } END { print n + 0 }' "$_ci_out")
  rm -f "$_ci_out"
  if [ "$_ci_n" = 0 ]; then
    echo "cargo test $*: no test ran (renamed?)" >&2
    return 1
  fi
}

ci_table() {
  local total
  total=$(awk -v a="$ci_started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  kill "$ci_load_sampler" 2>/dev/null || true
  printf '\n== times (%s CPUs; 1-minute load average during the run: %s)\n' "$(nproc)" \
    "$(sort -n "$ci_load" | awk '{ v[NR] = $1; s += $1 }
      END { if (NR) printf "mean %.1f, median %.1f, max %.1f, %d samples", s / NR, v[int((NR + 1) / 2)], v[NR], NR }')"
  printf '%-44s %10s %12s\n' "step" "wall" "user+sys"
  awk -F'\t' -v total="$total" '
    { printf "%-44s %8.1f s %10.1f s\n", $1, $2, $3; cpu += $3 }
    END {
      printf "%-44s %8s   %10s\n", "", "--------", "----------"
      printf "%-44s %8.1f s %10.1f s\n", "total (wall of the run; CPU of the steps)", total, cpu
    }' "$CI_TIMES"
}

# For the exit trap of each script that sources this file: a step that
# failed is marked; the script that sourced it first prints the table.
ci_exit() {
  if [ -n "$ci_current" ]; then
    printf '%s (FAILED)\t0\t0\n' "$ci_current" >>"$CI_TIMES"
    ci_current=
  fi
  [ "${ci_times_owner:-}" = "$BASHPID" ] || return 0
  ci_table
  rm -f "$CI_TIMES" "$ci_load"
}
