# tests/cli/ctl_lib.sh: what ctl.sh and ctl_prof.sh share (sourced after tests/checks.sh, with
# POTTER, HELLO, CONF, T and PIDS set; the services' discovery files go to $T/rt).

# ctl ARGS...: potter ctl ARGS in $T (at most CTL_TIMEOUT s, 20 by default), output to out
# and err, status in rc.
ctl() {
  (cd "$T" && timeout "${CTL_TIMEOUT:-20}" "$POTTER" ctl "$@" >"$T/out" 2>"$T/err")
  rc=$?
}

# start NAME [ENV=VALUE...] [FLAGS...]: hello in the background (with those variables in its
# environment), its pid in $started once its discovery file is there (at most 10 s); empty
# when it did not come.
start() {
  local name=$1
  shift
  local envs=()
  while [ $# -gt 0 ] && [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
    envs+=("$1")
    shift
  done
  (cd "$T" && exec env POTTER_ENV= "${envs[@]}" "$HELLO" --config-dir="$CONF" --http.port=0 \
    --ctl.port=0 --log.file= --stats.host= "$@" >"$T/$name.out" 2>"$T/$name.err") &
  started=$!
  PIDS="$PIDS $started"
  for _ in $(seq 1 200); do
    [ -s "$T/rt/hello.$started.json" ] && return 0
    sleep 0.05
  done
  echo "hello ($name) did not write its discovery file:"
  sed 's/^/  /' "$T/$name.err" | head -20
  started=
  return 1
}
