#!/usr/bin/env bash
# tests/cli/ctl.sh POTTER HELLO CONFIG_DIR: `potter ctl` (cli/potter-ctl) end to end against
# examples/hello, through the potter binary (which finds build/libexec/potter/potter-ctl):
# --describe and help; usage errors (exit 2); finding the service by --name, --pid, the only
# one running, --socket, --port and --runtime-dir; a service that is not there (exit 3); health,
# ready, metrics, stats, build, memory, endpoints; config show/get/explain/set (--ttl, the
# override's origin, a bad key)/unset; log level get/set, log reopen; get and post, a 404
# listing the endpoints; two services of one name (exit 2, both pids listed); a stale
# discovery file ignored; a token (401 without, --token and $POTTER_CTL_TOKEN); a reply that
# is not JSON; a failing health check (exit 1); quit (the service exits 0).
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

POTTER=${1:?usage: ctl.sh POTTER HELLO CONFIG_DIR}
HELLO=${2:?usage: ctl.sh POTTER HELLO CONFIG_DIR}
CONF=${3:?usage: ctl.sh POTTER HELLO CONFIG_DIR}
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
POTTER=$(abs "$POTTER")
HELLO=$(abs "$HELLO")
CONF=$(abs "$CONF")
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-ctl-test.XXXXXX")
PIDS=""
cleanup() {
  for p in $PIDS; do
    kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

mkdir -m 700 "$T/rt" "$T/empty"
export POTTER_RUNTIME_DIR=$T/rt
unset POTTER_CTL_TOKEN
rc=0
. "$(dirname "$0")/../checks.sh"
use_out_err
. "$(dirname "$0")/ctl_lib.sh"
is_json() { node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$1" 2>/dev/null; }
# stopped PID: until PID has exited (at most 5 s); its status in $rc.
stopped() {
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$1" 2>/dev/null; then
    rc=timeout
    return 1
  fi
  wait "$1"
  rc=$?
}
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close(); });'
}

# ---- the plugin contract, usage errors -------------------------------------------------------
(timeout 5 "$POTTER" ctl --describe >"$T/out" 2>"$T/err")
rc=$?
check "--describe exits 0" test $rc -eq 0
check "--describe prints JSON" is_json "$T/out"
check "--describe names the command" out_match '"name": ?"ctl"'
(timeout 5 "$POTTER" help ctl >"$T/out" 2>"$T/err")
rc=$?
check "potter help ctl shows the usage" out_has "usage: potter ctl"
ctl --help
check "--help exits 0" test $rc -eq 0
for cmd in health ready metrics stats build memory "config get KEY" "config explain KEY" \
  "config set KEY=VALUE" "config unset KEY" "log level LEVEL" "log reopen" threads \
  "profile cpu" "profile heap" "heap start" "heap stop" quit endpoints "get PATH" \
  "post PATH"; do
  check "--help lists '$cmd'" out_has "  $cmd"
done

ctl
check "no command: exit 2 (got $rc)" test $rc -eq 2
check "no command: the usage line" err_has "usage: potter ctl"
ctl frobnicate
check "an unknown command: exit 2 (got $rc)" test $rc -eq 2
check "an unknown command is named" err_has "'frobnicate' is not a command"
ctl --bogus health
check "an unknown option: exit 2 (got $rc)" test $rc -eq 2
check "an unknown option is named" err_has "unknown option --bogus"
ctl profile cpu --seconds ten
check "a bad --seconds: exit 2 (got $rc)" test $rc -eq 2
check "a bad --seconds is named with what was expected" \
  err_has '--seconds: expected a whole number in 1..300, got "ten"'
ctl profile cpu --format png
check "a bad --format: exit 2 (got $rc)" test $rc -eq 2
ctl config set
check "config set without KEY=VALUE: exit 2 (got $rc)" test $rc -eq 2
ctl config set justakey
check "config set KEY without a value: exit 2 (got $rc)" test $rc -eq 2
check "it names the argument" err_has 'expected KEY=VALUE (such as log.level=debug), got "justakey"'
ctl config get
check "config get without KEY: exit 2 (got $rc)" test $rc -eq 2
ctl health --ttl 5m
check "an option of another command: exit 2 (got $rc)" test $rc -eq 2
check "it says so" err_has "--ttl does not apply to 'health'"
ctl --port 80a health
check "a bad --port: exit 2 (got $rc)" test $rc -eq 2
check "it names the input" err_has '--port: expected a port number 1..65535, got "80a"'
ctl --port 1 --name hello health
check "two ways of finding the service: exit 2 (got $rc)" test $rc -eq 2
ctl get nope
check "get without a leading /: exit 2 (got $rc)" test $rc -eq 2

# ---- nothing running: exit 3 -----------------------------------------------------------------
ctl health
check "nothing running: exit 3 (got $rc)" test $rc -eq 3
check "nothing running: the folder searched is named" err_has "in $T/rt"
port=$(free_port)
ctl --port "$port" health
check "a port nobody listens on: exit 3 (got $rc)" test $rc -eq 3
check "it says connection refused and how to find a service" err_has \
  "potter ctl: cannot connect to 127.0.0.1:$port (connection refused): is the service running? (--port, --socket, --pid, --name)"
ctl --pid 4194303 health
check "--pid without a discovery file: exit 3 (got $rc)" test $rc -eq 3
check "it names the folder searched" err_has "no discovery file <name>.4194303.json in $T/rt"
ctl --name nosuch health
check "--name without a discovery file: exit 3 (got $rc)" test $rc -eq 3
check "it names the file and folder searched" err_has "no discovery file nosuch.<pid>.json in $T/rt"
ctl --socket "$T/rt/none.sock" health
check "a socket that is not there: exit 3 (got $rc)" test $rc -eq 3
check "it names the socket" err_has "cannot connect to the socket $T/rt/none.sock (no such file or directory)"

# A stale discovery file: its process is gone.
sh -c 'exit 0' &
dead=$!
wait $dead
printf '{"name":"hello","pid":%s,"host":"127.0.0.1","port":%s,"socket":null,"token":false}\n' \
  "$dead" "$port" >"$T/rt/hello.$dead.json"
ctl build
check "only a stale discovery file: exit 3 (got $rc)" test $rc -eq 3
check "it names the stale file" err_has "stale discovery file, the process is gone: $T/rt/hello.$dead.json"

# ---- one service ----------------------------------------------------------------------------
if ! start a; then
  bad "the demo service starts"
  finish
fi
A=$started
ok
# The first run of the health check may still be under way when the port opens.
for _ in $(seq 1 100); do
  ctl health
  [ $rc -eq 0 ] && break
  sleep 0.05
done
check "health: exit 0 (got $rc)" test $rc -eq 0
check "health: the aggregate status" out_has "status: ok"
check "health: the table's columns" out_match '^CHECK +STATUS +LATENCY +SINCE +ERROR$'
check "health: the check's row (name, status, latency, since, no error)" \
  out_match '^quotes +ok +[0-9.]+ ms +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z +-$'
ctl --json health
check "health --json: exit 0 (got $rc)" test $rc -eq 0
check "health --json: the JSON as it came" is_json "$T/out"
check "health --json: with the details" out_has '"latency_ms":'
ctl ready
check "ready: exit 0 (got $rc)" test $rc -eq 0
check "ready: the check's row" out_match '^quotes +ok '

ctl build
check "the only service is found without options (exit $rc)" test $rc -eq 0
check "build: the version" out_match '^version: +0\.2\.0$'
check "build: the service" out_match '^service: +hello$'
check "build: the pid" out_match "^pid: +$A\$"
check "build: the build id" out_match '^build id: +[0-9a-f]{40}$'
check "build: the uptime" out_match '^uptime: +[0-9]'
ctl --name hello build
check "--name finds it" out_match "^pid: +$A\$"
ctl --pid "$A" build
check "--pid finds it" out_match "^pid: +$A\$"
ctl --socket "$T/rt/hello.$A.sock" build
check "--socket reaches it (exit $rc)" out_match "^pid: +$A\$"
aport=$(node -e 'console.log(require(process.argv[1]).port)' "$T/rt/hello.$A.json")
ctl --port "$aport" build
check "--port reaches it (exit $rc)" out_match "^pid: +$A\$"
ctl --port "$aport" --host localhost build
check "--port with --host reaches it (exit $rc)" out_match "^pid: +$A\$"
(cd "$T" && POTTER_RUNTIME_DIR=$T/empty timeout 20 "$POTTER" ctl --runtime-dir "$T/rt" build \
  >"$T/out" 2>"$T/err")
rc=$?
check "--runtime-dir overrides \$POTTER_RUNTIME_DIR (exit $rc)" out_match "^pid: +$A\$"
(cd "$T" && env -u POTTER_RUNTIME_DIR XDG_RUNTIME_DIR="$T/xdg" timeout 20 "$POTTER" ctl build \
  >"$T/out" 2>"$T/err")
rc=$?
check "without it, \$XDG_RUNTIME_DIR/potter is searched (exit $rc)" err_has "$T/xdg/potter"
ctl --pid "$dead" build
check "--pid of a stale file: exit 3 (got $rc)" test $rc -eq 3
check "it says the process is gone" err_has "the process is gone: $T/rt/hello.$dead.json"

ctl metrics
check "metrics: exit 0 (got $rc)" test $rc -eq 0
check "metrics: Prometheus text with http_routes" out_match '^http_routes [0-9]+$'
ctl stats
check "stats: exit 0 (got $rc)" test $rc -eq 0
check "stats: name value" out_match '^http\.routes 8$'
check "stats: name{tags} value" out_match '^log\.records\{level=info\} [0-9]+$'
check "stats: a timer's count and sum" out_match '^http\.worker0\.loop\.lag count=[0-9]+ sum_seconds=[0-9.e-]+$'
ctl --json stats
check "stats --json: the JSON as it came" is_json "$T/out"

ctl memory
check "memory: exit 0 (got $rc)" test $rc -eq 0
check "memory: malloc's in-use bytes, in human units" out_match '^  in use +[0-9.]+ (B|KiB|MiB|GiB)$'
check "memory: the RSS" out_match '^  VmRSS +[0-9.]+ (KiB|MiB|GiB)$'
check "memory: the thread count" out_match '^  threads +[0-9]+$'

ctl endpoints
check "endpoints: exit 0 (got $rc)" test $rc -eq 0
check "endpoints: GET /health" out_match '^  GET +/health +health'
check "endpoints: POST /quit" out_match '^  POST +/quit +graceful shutdown$'

# ---- config ---------------------------------------------------------------------------------
ctl config
check "config: exit 0 (got $rc)" test $rc -eq 0
check "config: key = value (origin), from a file" out_match "^hello\.name = world \($CONF/common\.json:[0-9]+:[0-9]+\)$"
check "config: a default" out_has "ctl.rate = 50 (default)"
check "config: a flag" out_has "ctl.port = 0 (--ctl.port)"
check "config: a secret stays redacted" out_has "ctl.token = <redacted> (default)"
ctl config get hello.name
check "config get: exit 0 (got $rc)" test $rc -eq 0
check "config get: value and origin" out_match "^hello\.name = world \($CONF/common\.json:[0-9]+:[0-9]+\)$"
ctl config explain hello.dep_latency
check "config explain: exit 0 (got $rc)" test $rc -eq 0
check "config explain: the type" out_match '^type: +duration$'
check "config explain: the default" out_match '^default: +200ms$'
check "config explain: the range" out_match '^range: +0s\.\.1m$'
check "config explain: the doc" out_match '^doc: +how long the fake dependency takes$'
check "config explain: may change at run time" out_match '^runtime: +yes'
ctl config get nosuch
check "config get of an unknown key: exit 1 (got $rc)" test $rc -eq 1
check "it names the key" err_has 'answered 404: config: no key "nosuch" is declared'

ctl config set hello.name=bob hello.dep_down=true --ttl 10m
check "config set --ttl: exit 0 (got $rc)" test $rc -eq 0
check "config set says what it set" out_has "set hello.name = bob for 10m"
ctl config get hello.name
check "config get shows the override's origin" \
  out_match '^hello\.name = bob \(runtime override from control port \(expires in (10m|9m[0-9]+s|[0-9]+s)\)\)$'
ctl config get hello.dep_down
check "a VALUE that is JSON is sent as JSON (true, not \"true\")" out_match '^hello\.dep_down = true '
ctl config set nosuch=1 hello.name=carol
check "config set of an unknown key: exit 1 (got $rc)" test $rc -eq 1
check "the message names the key" err_has 'the service answered 400: control port:1:2: unknown key "nosuch"'
ctl config get hello.name
check "one bad key refuses them all" out_match '^hello\.name = bob '
ctl config unset hello.name hello.dep_down
check "config unset: exit 0 (got $rc)" test $rc -eq 0
ctl config get hello.name
check "config unset: back to the file's value" out_match "^hello\.name = world \($CONF/common\.json"

# ---- log ------------------------------------------------------------------------------------
ctl log level warn --ttl 1m
check "log level LEVEL --ttl: exit 0 (got $rc)" test $rc -eq 0
check "it says what it set" out_has "log.level set to warn for 1m"
ctl log level
check "log level: exit 0 (got $rc)" test $rc -eq 0
check "log level: the service's logger at its new level" out_match '^hello +warn$'
ctl config get log.level
check "the level is an override with its TTL" out_has "(runtime override from control port (expires in"
ctl log level loud
check "a bad level: exit 1 (got $rc)" test $rc -eq 1
check "the service's message says what levels there are" err_has 'must be one of trace, debug, info'
ctl log level info --logger nosuch
check "an unknown logger: exit 1 (got $rc)" test $rc -eq 1
check "it is named" err_has 'no logger "nosuch"'
ctl log level info --logger hello --ttl 1m
check "--ttl with --logger: exit 2 (got $rc)" test $rc -eq 2
ctl log reopen
check "log reopen: exit 0 (got $rc)" test $rc -eq 0

# ---- get, post ------------------------------------------------------------------------------
ctl get /build
check "get /build: exit 0 (got $rc)" test $rc -eq 0
check "get: the body as it came" out_has '"version":"0.2.0"'
ctl get /nope
check "get /nope: exit 1 (got $rc)" test $rc -eq 1
check "a 404 gives the status and the service's message" \
  err_has "potter ctl: GET /nope: the service answered 404: no endpoint /nope; GET / lists them"
check "a 404 lists the endpoints" grep -qE '^  GET +/health ' "$T/err"
ctl post /log/reopen
check "post /log/reopen: exit 0 (got $rc)" test $rc -eq 0
ctl post /config '{"hello.name":"dave"}'
check "post PATH BODY: exit 0 (got $rc)" test $rc -eq 0
ctl config get hello.name
check "post's body arrived" out_match '^hello\.name = dave '
ctl post /config '{"hello.name":null}'

# ---- a reply that is not what was expected ---------------------------------------------------
node -e '
  const srv = require("http").createServer((q, s) => {
    if (q.url === "/health") { s.writeHead(200); s.end("<html>not json</html>"); return; }
    if (q.url === "/build") { s.writeHead(500); s.end("\x1b[31mboom\n"); return; }
    s.writeHead(200, {"Content-Type": "application/json"}); s.end("[1,2]");
  }).listen(0, "127.0.0.1", () => require("fs").writeFileSync(process.argv[1], String(srv.address().port)));
  setTimeout(() => process.exit(0), 60000);
' "$T/fake.port" &
FAKE=$!
PIDS="$PIDS $FAKE"
for _ in $(seq 1 100); do [ -s "$T/fake.port" ] && break; sleep 0.05; done
fport=$(cat "$T/fake.port")
ctl --port "$fport" health
check "a reply that is not JSON: exit 1 (got $rc)" test $rc -eq 1
check "it says so" err_has "GET /health: the reply is not a JSON object (line 1"
ctl --port "$fport" build
check "a 500 without a JSON body: exit 1 (got $rc)" test $rc -eq 1
check "its first line is shown, escape sequences defused" err_has "the service answered 500: ?[31mboom"
ctl --port "$fport" stats
check "JSON of another shape: exit 1 (got $rc)" test $rc -eq 1
kill "$FAKE" 2>/dev/null
wait "$FAKE" 2>/dev/null

# ---- two services of one name -----------------------------------------------------------------
if start b; then
  B=$started
  ok
  ctl build
  check "two services, none chosen: exit 2 (got $rc)" test $rc -eq 2
  check "both pids are listed (A)" err_has "--pid $A"
  check "both pids are listed (B)" err_has "--pid $B"
  check "the stale file is mentioned" err_has "hello.$dead.json"
  ctl --name hello build
  check "--name matching two: exit 2 (got $rc)" test $rc -eq 2
  check "it lists both (A)" err_has "--pid $A"
  check "it lists both (B)" err_has "--pid $B"
  ctl --pid "$B" build
  check "--pid picks one of them" out_match "^pid: +$B\$"

  ctl --pid "$B" quit
  check "quit: exit 0 (got $rc)" test $rc -eq 0
  check "quit says the service is stopping" out_has "hello (pid $B) is stopping"
  stopped "$B"
  check "the service stops with status 0 (got $rc)" test "$rc" = 0
  check "its discovery file is gone" test ! -e "$T/rt/hello.$B.json"
else
  bad "a second service starts"
fi

# ---- a token ----------------------------------------------------------------------------------
if start c --ctl.token=s3; then
  C=$started
  ok
  ctl --pid "$C" build
  check "without the token: exit 1 (got $rc)" test $rc -eq 1
  check "the 401 is reported" err_has "the service answered 401"
  check "with a hint" err_has "give it with --token T or \$POTTER_CTL_TOKEN"
  ctl --pid "$C" --token s3 build
  check "--token: exit 0 (got $rc)" test $rc -eq 0
  check "--token: the answer" out_match "^pid: +$C\$"
  (cd "$T" && POTTER_CTL_TOKEN=s3 timeout 20 "$POTTER" ctl --pid "$C" build >"$T/out" 2>"$T/err")
  rc=$?
  check "\$POTTER_CTL_TOKEN: exit 0 (got $rc)" test $rc -eq 0
  (cd "$T" && POTTER_CTL_TOKEN=nope timeout 20 "$POTTER" ctl --pid "$C" build >"$T/out" 2>"$T/err")
  rc=$?
  check "a wrong token: exit 1 (got $rc)" test $rc -eq 1
  check "a wrong token is said to be wrong" err_has "is not the service's ctl.token"
  ctl --pid "$C" --token s3 quit
  check "quit with the token: exit 0 (got $rc)" test $rc -eq 0
  stopped "$C"
  check "it stops with status 0 (got $rc)" test "$rc" = 0
else
  bad "a service with a token starts"
fi

# ---- a failing service: health exits 1 --------------------------------------------------------
if start d --hello.dep_down=true --hello.dep_latency=10ms; then
  D=$started
  ok
  for _ in $(seq 1 100); do # until the first run of the check has finished
    ctl --pid "$D" health
    [ $rc -ne 0 ] && break
    sleep 0.05
  done
  check "health of a failing service: exit 1 (got $rc)" test $rc -eq 1
  check "the aggregate status says failing" out_has "status: failing"
  check "the check's row gives its error" \
    out_match '^quotes +failing +[0-9.]+ ms +[0-9T:.Z-]+ +the quote service does not answer$'
  ctl --pid "$D" --json health
  check "health --json of a failing service: exit 1 too (got $rc)" test $rc -eq 1
  check "with the JSON as it came" out_has '"status":"failing"'
  ctl --pid "$D" quit
  stopped "$D"
  check "it stops with status 0 (got $rc)" test "$rc" = 0
else
  bad "a service with a failing check starts"
fi

# ---- quit the last one ------------------------------------------------------------------------
ctl quit
check "quit (the only service): exit 0 (got $rc)" test $rc -eq 0
stopped "$A"
check "the service stops with status 0 (got $rc)" test "$rc" = 0
ctl health
check "after quit nothing is running: exit 3 (got $rc)" test $rc -eq 3

finish
