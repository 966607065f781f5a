#!/usr/bin/env bash
# tests/cli/ctl_prof.sh POTTER HELLO CONFIG_DIR [LIBPOTTER_HEAP]: the profilers through
# `potter ctl` against examples/hello under load: threads (jstack-like text with pt-ops and
# main; --json), profile cpu as pprof (a gzip file `go tool pprof -top` reads; the default
# file name), folded stacks ("frames count" lines) and a flame graph (SVG); heap start,
# profile heap and heap stop with libpotter-heap preloaded (when its path is given), and a
# clear refusal without it.
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

POTTER=${1:?usage: ctl_prof.sh POTTER HELLO CONFIG_DIR [LIBPOTTER_HEAP]}
HELLO=${2:?usage: ctl_prof.sh POTTER HELLO CONFIG_DIR [LIBPOTTER_HEAP]}
CONF=${3:?usage: ctl_prof.sh POTTER HELLO CONFIG_DIR [LIBPOTTER_HEAP]}
HEAPLIB=${4:-}
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
POTTER=$(abs "$POTTER")
HELLO=$(abs "$HELLO")
CONF=$(abs "$CONF")
[ -n "$HEAPLIB" ] && HEAPLIB=$(abs "$HEAPLIB")
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-ctl-prof-test.XXXXXX")
PIDS=""
cleanup() {
  for p in $PIDS; do
    kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

mkdir -m 700 "$T/rt"
export POTTER_RUNTIME_DIR=$T/rt
unset POTTER_CTL_TOKEN
rc=0
. "$(dirname "$0")/../checks.sh"
use_out_err
CTL_TIMEOUT=40 # a profile takes its seconds
. "$(dirname "$0")/ctl_lib.sh"

if ! start a; then
  bad "the demo service starts"
  finish
fi
A=$started
ok
# Load, so the profiles have samples: keep-alive requests to /hello, 4 at a time.
hport=
for _ in $(seq 1 200); do
  hport=$(sed -n 's/.*"msg":"listening on 127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$T/a.err" | head -1)
  [ -n "$hport" ] && break
  sleep 0.05
done
node -e '
  const http = require("http"), agent = new http.Agent({keepAlive: true});
  const one = () => http.get({host: "127.0.0.1", port: +process.argv[1], path: "/hello", agent},
    (r) => { r.resume(); r.on("end", one); }).on("error", () => setTimeout(one, 10));
  for (let i = 0; i < 4; i++) one();
  setTimeout(() => process.exit(0), 90000); /* never outlives the test */
' "$hport" &
PIDS="$PIDS $!"

# ---- threads ----------------------------------------------------------------------------------
ctl threads
check "threads: exit 0 (got $rc)" test $rc -eq 0
check "threads: pt-ops is listed, jstack style" out_match '^"pt-ops" tid=[0-9]+ state=[A-Z]'
check "threads: the main thread's stack reaches main()" out_match '^ +at main '
check "threads: frames are 'at function (file:line)'" out_match '^ +at [^ ]+ \(.+\)'
ctl --json threads
check "threads --json: exit 0 (got $rc)" test $rc -eq 0
check "threads --json: the threads as JSON" out_has '"threads":'

# ---- profile cpu ------------------------------------------------------------------------------
ctl profile cpu --seconds 1 -o f.pb.gz
check "profile cpu -o: exit 0 (got $rc)" test $rc -eq 0
check "it says it is profiling, for how long" err_has "profiling hello (pid $A) for 1 s..."
check "it says where it wrote" out_has "wrote f.pb.gz ("
check "and how to read it" out_has "see it with: go tool pprof -top f.pb.gz"
check "the file is gzip'd" gzip -t "$T/f.pb.gz"
if command -v go >/dev/null 2>&1; then
  (cd "$T" && HOME=$T PPROF_TMPDIR=$T timeout 60 go tool pprof -top f.pb.gz >"$T/out" 2>"$T/err")
  rc=$?
  check "go tool pprof -top reads it (exit $rc)" test $rc -eq 0
  check "go tool pprof sees a CPU profile" out_has "Type: cpu"
else
  echo "SKIP: go is not installed; the profile is not read with go tool pprof"
fi
ctl profile cpu --seconds 1 --hz 200
check "profile cpu, default file: exit 0 (got $rc)" test $rc -eq 0
check "the default file is <service>.<pid>.cpu.pb.gz" gzip -t "$T/hello.$A.cpu.pb.gz"
check "it is named" out_has "wrote hello.$A.cpu.pb.gz ("

ctl profile cpu --seconds 1 --format folded
check "--format folded: exit 0 (got $rc)" test $rc -eq 0
check "--format folded prints stacks" test -s "$T/out"
check "every line is 'frame;frame;... count'" test "$(grep -cvE '^[^ ]+ [0-9]+$' "$T/out")" -eq 0

ctl profile cpu --seconds 1 --format svg
check "--format svg: exit 0 (got $rc)" test $rc -eq 0
check "the default file is <service>.<pid>.flame.svg" test -s "$T/hello.$A.flame.svg"
check "it is SVG" grep -qE '^(<\?xml|<svg)' "$T/hello.$A.flame.svg"
ctl profile cpu --seconds 1 --format svg -o flame.svg
check "--format svg -o: exit 0 (got $rc)" test $rc -eq 0
check "-o names the file" grep -qE '^(<\?xml|<svg)' "$T/flame.svg"

# ---- heap -------------------------------------------------------------------------------------
ctl heap start
check "heap start without libpotter-heap: exit 1 (got $rc)" test $rc -eq 1
check "it gives the service's reason" err_has "POST /debug/heap/start: the service answered"
if [ -n "$HEAPLIB" ]; then
  if start h LD_PRELOAD="$HEAPLIB"; then
    H=$started
    ok
    ctl --pid "$H" heap start --rate 4096
    check "heap start --rate: exit 0 (got $rc)" test $rc -eq 0
    check "it says so" out_has "heap profiling started"
    ctl --pid "$H" profile heap -o h.pb.gz
    check "profile heap -o: exit 0 (got $rc)" test $rc -eq 0
    check "the heap profile is gzip'd" gzip -t "$T/h.pb.gz"
    check "it says how to read it" out_has "see it with: go tool pprof -top h.pb.gz"
    ctl --pid "$H" profile heap
    check "profile heap, default file: exit 0 (got $rc)" gzip -t "$T/hello.$H.heap.pb.gz"
    ctl --pid "$H" heap stop
    check "heap stop: exit 0 (got $rc)" test $rc -eq 0
  else
    bad "the demo service starts with libpotter-heap preloaded"
  fi
else
  echo "SKIP: no libpotter-heap given; heap start/stop and profile heap are not run"
fi

finish
