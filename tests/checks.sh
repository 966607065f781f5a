# tests/checks.sh: what the shell tests share (sourced, not run). A test counts its checks
# and prints one line per failure, then "N passed, M failed" from finish, which exits 1 when
# any failed. A test that wants more said on a failure defines fail_context (called after the
# FAIL line), or calls use_out_err: its commands then write $T/out and $T/err and set $rc,
# and a failure shows them.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "FAIL: $*"
  if declare -F fail_context >/dev/null; then fail_context; fi
}
# check WHAT COMMAND...: a passed check when COMMAND succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok; else bad "$what"; fi
}
# wait_for TEXT FILE: until FILE has a line containing TEXT, at most 10 s.
wait_for() {
  for _ in $(seq 1 200); do
    grep -qF -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# use_out_err: the checks read the last command's output in $T/out and $T/err (and its status
# in $rc): out_has/err_has TEXT (fixed strings), out_match/err_match REGEX; a failure prints
# the three.
use_out_err() {
  rc=0
  fail_context() {
    echo "  exit status: $rc"
    sed 's/^/  stdout: /' "$T/out" 2>/dev/null | head -20
    sed 's/^/  stderr: /' "$T/err" 2>/dev/null | head -20
  }
  out_has() { grep -qF -- "$1" "$T/out"; }
  err_has() { grep -qF -- "$1" "$T/err"; }
  out_match() { grep -qE -- "$1" "$T/out"; }
  err_match() { grep -qE -- "$1" "$T/err"; }
}
