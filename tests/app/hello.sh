#!/usr/bin/env bash
# tests/app/hello.sh HELLO: pt_app end to end through examples/hello, a real HTTP service: the
# informative flags, exit status 78 on a bad configuration, the start-up and "listening on"
# records, every route, request ids in responses and records, the access log, /health with the
# dependency up and down, the http.* metrics at the statsd receiver, configuration changes
# applied and logged on SIGHUP, a refused reload that leaves the service running, a graceful
# stop on SIGTERM with the last interval's counts sent, and bunyan's CLI reading the log.
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

HELLO=${1:?usage: hello.sh PATH-TO-HELLO}
case $HELLO in /*) ;; *) HELLO=$PWD/$HELLO ;; esac
BUNYAN=$(cd "$(dirname "$0")/../peers/node_modules/.bin" 2>/dev/null && pwd)/bunyan
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-app-test.XXXXXX")
PID=
PID2=
RX=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$PID2" ] && kill -9 "$PID2" 2>/dev/null
  [ -n "$RX" ] && kill -9 "$RX" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

rc=0
. "$(dirname "$0")/../checks.sh"
use_out_err
run() { # run ARGS...: hello in $T/c with the test's datacenter file, output to out and err
  (cd "$T" && POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" "$HELLO" "$@" >"$T/out" 2>"$T/err")
  rc=$?
}
# rec FILTER EXPR [LOG]: EXPR (JavaScript of r) as JSON for the last record of LOG (default
# log.json) for which FILTER (JavaScript of r) holds; <none> when no record does.
rec() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[3], "utf8").trim().split("\n");
    const f = new Function("r", "return (" + process.argv[1] + ")");
    const e = new Function("r", "return (" + process.argv[2] + ")");
    const recs = lines.map((l) => JSON.parse(l)).filter((r) => { try { return f(r); } catch (x) { return false; } });
    const r = recs[recs.length - 1];
    process.stdout.write(r === undefined ? "<none>" : JSON.stringify(e(r)));
  ' "$1" "$2" "${3:-$T/log.json}" 2>/dev/null || echo "<no log>"
}
# nrec FILTER [LOG]: how many records of LOG FILTER holds for.
nrec() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[2], "utf8").trim().split("\n");
    const f = new Function("r", "return (" + process.argv[1] + ")");
    process.stdout.write(String(lines.map((l) => JSON.parse(l)).filter((r) => { try { return f(r); } catch (x) { return false; } }).length));
  ' "$1" "${2:-$T/log.json}" 2>/dev/null || echo "<no log>"
}
# listening_port LOG: the port of LOG's "listening on 127.0.0.1:" record, once it is written.
listening_port() {
  wait_for '"msg":"listening on 127.0.0.1:' "$1" || return 1
  rec 'r.msg.startsWith("listening on 127.0.0.1:")' 'r.port' "$1"
}
# http NAME CURL-ARGS...: one request (at most 5 s); status in $code, headers (CR cut) in
# $T/NAME.h, body in $T/NAME.b, seconds taken in $T/NAME.t.
http() {
  local name=$1
  shift
  code=$(curl -s --max-time 5 -D "$T/$name.h" -o "$T/$name.b" -w '%{http_code} %{time_total}' "$@")
  echo "${code#* }" >"$T/$name.t"
  code=${code%% *}
  sed -i 's/\r$//' "$T/$name.h" 2>/dev/null
}
body_is() { printf '%b' "$2" | cmp -s - "$T/$1.b"; } # body_is NAME TEXT (printf %b escapes)
header_is() { grep -qix -- "$2" "$T/$1.h"; }           # header_is NAME "Name: value"
header_has() { grep -qi -- "^$2:" "$T/$1.h"; }         # header_has NAME Name

mkdir -p "$T/c"
echo "dc7" >"$T/datacenter"
cat >"$T/c/common.json" <<'JSON'
{"log": {"file": "log.json", "stderr": false}, "hello": {"name": "tests"}}
JSON
echo '{"log.level": "debug"}' >"$T/c/development.json"

# ---- informative flags ---------------------------------------------------------------------
run --version
check "--version exits 0" test $rc -eq 0
check "--version names service, version, potter and build id" \
  grep -qE '^hello 0\.2\.0 \(potter [0-9]+\.[0-9]+\.[0-9]+, build [0-9a-f]{40}\)$' "$T/out"

run --help
check "--help exits 0" test $rc -eq 0
check "--help lists log.level with its values" out_has "--log.level=trace|debug|info|warn|error|fatal|off"
check "--help lists the service's own key" out_has "--hello.dep_latency=DURATION"
check "--help gives a default and a range" out_has 'how long the fake dependency takes (default "200ms"; 0s..1m)'
check "--help lists the HTTP server's keys" out_has "--http.port=UINT"

run --config-dir=c --check-config
check "--check-config exits 0" test $rc -eq 0
check "--check-config names env, datacenter and files" \
  out_has "hello: configuration OK (env development, datacenter dc7; files: c/common.json, c/development.json)"

run --config-dir=c --print-config --hello.dep_latency=2s
check "--print-config exits 0" test $rc -eq 0
check "--print-config shows a flag's origin" out_has '"hello.dep_latency": {"value": "2s", "origin": "--hello.dep_latency"}'
check "--print-config shows a file's origin" out_has '"log.level": {"value": "debug", "origin": "c/development.json:1:2"}'

# ---- a bad configuration: 78, every problem named -------------------------------------------
echo '{"log.level": "verbose", "hello": {"nam": "x"}}' >"$T/c/staging.json"
run --config-dir=c --env=staging --hello.dep_latency=2m --http.port=70000
check "a bad configuration exits 78" test $rc -eq 78
check "a bad value is named with its place" \
  err_has 'hello: c/staging.json:1:15: log.level: expected one of trace, debug, info, warn, error, fatal, off, found "verbose"'
check "an unknown key gets a suggestion" \
  err_has 'hello: c/staging.json:1:36: unknown key "hello.nam" (did you mean hello.name?)'
check "a flag out of range is named" \
  err_has 'hello: --hello.dep_latency=2m: expected a duration such as "250ms" in 0s..1m, found "2m"'
check "a port out of range is named" \
  err_has 'hello: --http.port=70000: expected a non-negative integer in 0..65535, found 70000'
check "nothing is logged by a service that does not start" test ! -e "$T/log.json"

rm -f "$T/datacenter"
run --config-dir=c --env=production
check "production without a datacenter exits 78" test $rc -eq 78
check "production without a datacenter says how to give one" \
  err_has "hello: the production environment needs a datacenter: pass --datacenter=NAME or write it to $T/datacenter"
echo "dc7" >"$T/datacenter"

# ---- running -------------------------------------------------------------------------------
# A UDP receiver for the statsd datagrams: node, which the test peers need anyway.
node -e '
  const s = require("dgram").createSocket("udp4"), fs = require("fs");
  s.on("message", (m) => fs.appendFileSync(process.argv[1], m.toString() + "\n"));
  s.bind(0, "127.0.0.1", () => fs.writeFileSync(process.argv[2], String(s.address().port)));
  setTimeout(() => process.exit(0), 80000); /* never outlives the test */
' "$T/statsd.txt" "$T/statsd.port" &
RX=$!
for _ in $(seq 1 100); do [ -s "$T/statsd.port" ] && break; sleep 0.05; done
(cd "$T" && POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" exec "$HELLO" --config-dir=c \
  --http.port=0 --http.workers=2 --hello.dep_latency=100ms \
  --stats.port="$(cat "$T/statsd.port")" --stats.interval=100ms >"$T/out" 2>"$T/err") &
PID=$!
check "the start-up record is written" wait_for '"msg":"service starting"' "$T/log.json"
check "it carries the version" test "$(rec 'r.msg === "service starting"' r.version)" = '"0.2.0"'
check "it carries the build id" grep -qE '"build_id":"[0-9a-f]{40}"' "$T/log.json"
check "it carries the environment" test "$(rec 'r.msg === "service starting"' r.env)" = '"development"'
check "it carries the datacenter" test "$(rec 'r.msg === "service starting"' r.datacenter)" = '"dc7"'
check "it carries the files loaded" \
  test "$(rec 'r.msg === "service starting"' r.config_files)" = '["c/common.json","c/development.json"]'
port=$(listening_port "$T/log.json")
if ! [ "${port:-0}" -gt 0 ] 2>/dev/null; then
  bad "the \"listening on\" record gives the port (got \"$port\"): the service did not start"
  echo "$passed passed, $failed failed"
  exit 1
fi
ok
check "it gives the host" test "$(rec 'r.msg === "listening on 127.0.0.1:'"$port"'"' r.host)" = '"127.0.0.1"'
check "it counts the routes (6, /health, /ready)" \
  test "$(rec 'r.msg.startsWith("listening on")' r.routes)" = 8
check "a service with a health check gets no warning about it" \
  test "$(grep -c 'NO HEALTH CHECKS' "$T/log.json")" -eq 0
U=http://127.0.0.1:$port

# The first run of the health check may still be under way when the port opens.
for _ in $(seq 1 40); do
  http health "$U/health"
  [ "$code" = 200 ] && break
  sleep 0.05
done
check "GET /health answers 200 (got $code)" test "$code" = 200
check "with every check's state" body_is health '{"status":"ok","checks":{"quotes":"ok"}}'
check "as JSON" header_is health "Content-Type: application/json"

# ---- the routes ----------------------------------------------------------------------------
http hello "$U/hello"
check "GET /hello answers 200 (got $code)" test "$code" = 200
check "GET /hello greets hello.name" body_is hello 'hello, tests\n'
check "GET /hello says its type" header_is hello "Content-Type: text/plain"
check "a response carries an X-Request-Id" header_has hello X-Request-Id
check "a made id is a UUID" \
  grep -qiE '^X-Request-Id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$T/hello.h"

http ada -H 'X-Request-Id: my-id-1' "$U/hello/ada"
check "GET /hello/ada answers 200 (got $code)" test "$code" = 200
check "GET /hello/ada greets the parameter" body_is ada 'hello, ada\n'
check "the client's X-Request-Id is echoed" header_is ada "X-Request-Id: my-id-1"

http quote "$U/quote"
check "GET /quote answers 200 (got $code)" test "$code" = 200
check "GET /quote gives a quote" grep -q 'Simplicity is prerequisite for reliability' "$T/quote.b"
# The dependency's timer runs on libuv's millisecond clock, which may fire up to 1 ms before
# 100 ms have passed since the request was read: 99 ms is the bound.
check "GET /quote waits for the dependency (took $(cat "$T/quote.t") s)" \
  awk -v t="$(cat "$T/quote.t")" 'BEGIN { exit !(t >= 0.099 && t < 2) }'

http s503 "$U/status/503"
check "GET /status/503 answers 503 (got $code)" test "$code" = 503
http sabc "$U/status/abc"
check "GET /status/abc answers 400 (got $code)" test "$code" = 400
check "GET /status/abc says what was expected" body_is sabc 'expected a status code 200..599\n'

printf 'a body,\nwith two lines\n' >"$T/echo.in"
http echo -X POST --data-binary "@$T/echo.in" "$U/echo"
check "POST /echo answers 200 (got $code)" test "$code" = 200
check "POST /echo gives the body back" cmp -s "$T/echo.in" "$T/echo.b"

http nope -H 'X-Request-Id: nope-1' "$U/nope"
check "GET /nope answers 404 (got $code)" test "$code" = 404
check "a 404 echoes the client's X-Request-Id" header_is nope "X-Request-Id: nope-1"

http post -X POST -H 'X-Request-Id: post-1' "$U/hello"
check "POST /hello answers 405 (got $code)" test "$code" = 405
check "the 405 gives Allow: GET, HEAD" header_is post "Allow: GET, HEAD"
check "a 405 echoes the client's X-Request-Id" header_is post "X-Request-Id: post-1"

# HEAD by hand: curl would wait for the body Content-Length announces. The server closes after
# the answer (Connection: close): whatever follows the blank line would be a body.
(exec 3<>"/dev/tcp/127.0.0.1/$port" &&
  printf 'HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 &&
  timeout 5 cat <&3 >"$T/head.raw")
tr -d '\r' <"$T/head.raw" | sed '/^$/q' >"$T/head.h"
check "HEAD /hello answers 200" grep -qx 'HTTP/1.1 200 OK' "$T/head.h"
check "HEAD /hello gives GET's length" header_is head "Content-Length: 13"
check "HEAD /hello has no body" test "$(tail -c 4 "$T/head.raw" | od -An -c | tr -d ' ')" = '\r\n\r\n'

# ---- the access log and request ids in records ---------------------------------------------
A='r.msg === "request" && r.req_id === "my-id-1"'
check "the request's access record is written" wait_for '"msg":"request","req_id":"my-id-1"' "$T/log.json"
check "it carries req.method" test "$(rec "$A" r.req.method)" = '"GET"'
check "it carries req.url" test "$(rec "$A" r.req.url)" = '"/hello/ada"'
check "it carries req.headers.host" test "$(rec "$A" r.req.headers.host)" = "\"127.0.0.1:$port\""
check "it carries res.statusCode" test "$(rec "$A" r.res.statusCode)" = 200
check "it carries latency_ms" test "$(rec "$A" 'typeof r.latency_ms === "number" && r.latency_ms >= 0')" = true
check "it carries the route's template" test "$(rec "$A" r.route)" = '"/hello/:name"'
check "it is an info record" test "$(rec "$A" r.level)" = 30
check "the handler's debug record carries the same req_id" \
  test "$(rec 'r.msg === "greeting someone"' 'r.req_id + " " + r.who + " " + r.level')" = '"my-id-1 ada 20"'
check "a made id is logged as echoed" test "$(rec 'r.msg === "request" && r.req.url === "/hello" && r.req.method === "GET"' r.req_id)" = \
  "\"$(sed -n 's/^X-Request-Id: //Ip' "$T/hello.h")\""
check "the 404 is logged" test "$(rec 'r.msg === "request" && r.req_id === "nope-1"' r.res.statusCode)" = 404
check "the 405 is logged" test "$(rec 'r.msg === "request" && r.req_id === "post-1"' r.res.statusCode)" = 405
check "the quote's time is logged" \
  test "$(rec 'r.msg === "request" && r.req.url === "/quote"' 'r.latency_ms >= 99')" = true

# ---- metrics at statsd: with tags in the name ('/' and ':' become '_') ---------------------
host=$(hostname | tr '.' '_')
S="hello\\.$host"
wait_statsd() { # wait_statsd REGEX: until a line of statsd.txt matches, at most 5 s
  for _ in $(seq 1 100); do
    grep -qE -- "$1" "$T/statsd.txt" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
check "http.requests by route, method and status class" \
  wait_statsd "^$S\.http\.requests\.route\._hello\.method\.GET\.status\.2xx:[0-9]+\|c$"
check "http.requests for a route with a parameter" \
  wait_statsd "^$S\.http\.requests\.route\._hello__name\.method\.GET\.status\.2xx:[0-9]+\|c$"
check "http.requests for what no route matched" \
  wait_statsd "^$S\.http\.requests\.route\.unmatched\.method\.any\.status\.4xx:[0-9]+\|c$"
check "http.requests of 5xx" \
  wait_statsd "^$S\.http\.requests\.route\._status__code\.method\.GET\.status\.5xx:[0-9]+\|c$"
check "http.responses by status (404)" wait_statsd "^$S\.http\.responses\.status\.404:[0-9]+\|c$"
check "http.responses by status (405)" wait_statsd "^$S\.http\.responses\.status\.405:[0-9]+\|c$"
check "http.request_time in ms" \
  wait_statsd "^$S\.http\.request_time\.route\._hello\.method\.GET:[0-9.]+\|ms"
check "http.request_time of the quote is about dep_latency" \
  wait_statsd "^$S\.http\.request_time\.route\._quote\.method\.GET:(99\.[0-9]+|1[0-9][0-9](\.[0-9]+)?)\|ms"
check "http.in_flight is a gauge" wait_statsd "^$S\.http\.in_flight:[0-9]+\|g$"
check "http.bytes_in is counted" wait_statsd "^$S\.http\.bytes_in:[0-9]+\|c$"
check "http.bytes_out is counted" wait_statsd "^$S\.http\.bytes_out:[0-9]+\|c$"
check "the service's own counter reaches statsd" wait_statsd "^$S\.hello\.quotes:1\|c$"
check "the process's metrics come by default" wait_statsd "^$S\.process\.rss_bytes:"
check "the logger's counts by level come by default" wait_statsd "^$S\.log\.records\.level\.info:"
check "pt-ops's loop lag comes by default" wait_statsd "^$S\.pt_ops\.loop\.lag:"

# ---- the dependency down: /health 503, /quote 502 (a second instance) ---------------------
(cd "$T" && POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" exec "$HELLO" --config-dir=c \
  --http.port=0 --hello.dep_down=true --hello.dep_latency=10ms --log.file=down.json \
  --stats.host= >"$T/out2" 2>"$T/err2") &
PID2=$!
port2=$(listening_port "$T/down.json")
check "a second instance listens on its own port" test "${port2:-0}" -gt 0 -a "${port2:-0}" != "$port"
for _ in $(seq 1 40); do # until the first run of the check has finished
  http down "http://127.0.0.1:$port2/health"
  grep -qF '"quotes":"failing"' "$T/down.b" && break
  sleep 0.05
done
check "/health answers 503 when the dependency is down (got $code)" test "$code" = 503
check "naming the failing check" body_is down '{"status":"failing","checks":{"quotes":"failing"}}'
http down "http://127.0.0.1:$port2/quote"
check "/quote answers 502 when the dependency is down (got $code)" test "$code" = 502
check "the failure is logged with the request's id" \
  test "$(rec 'r.msg === "dependency failed"' 'r.level + " " + r.dep + " " + (r.req_id === "'"$(sed -n 's/^X-Request-Id: //Ip' "$T/down.h")"'")' "$T/down.json")" = '"40 quotes true"'
kill -TERM "$PID2"
for _ in $(seq 1 100); do kill -0 "$PID2" 2>/dev/null || break; sleep 0.05; done
wait "$PID2"
rc=$?
PID2=
check "the second instance stops with status 0" test $rc -eq 0
check "no warning about health checks there either" test "$(grep -c 'NO HEALTH CHECKS' "$T/down.json")" -eq 0

# ---- reload, a refused reload, a good one --------------------------------------------------
echo '{"log.level": "warn", "log.file": "other.json", "hello.name": "reloaded"}' >"$T/c/development.json"
kill -HUP "$PID"
check "a reload logs the change" wait_for '"msg":"configuration changed"' "$T/log.json"
check "the change names key, old, new and origin" grep -qF \
  '"key":"log.level","old":"debug","new":"warn","origin":"c/development.json:1:2"' "$T/log.json"
check "a fixed key changed by the reload is named in a warning" \
  grep -qF 'keys fixed at start-up keep their value until a restart: log.file' "$T/log.json"
check "a service key changed by the reload is logged" grep -qF \
  '"key":"hello.name","old":"tests","new":"reloaded"' "$T/log.json"
http hello "$U/hello"
check "the service sees its new value (GET /hello got $code)" body_is hello 'hello, reloaded\n'
sleep 0.2
n1=$(nrec 'r.msg === "request"')
for i in 1 2 3; do http w "$U/hello"; done
sleep 0.3
n2=$(nrec 'r.msg === "request"')
check "the new level applies: access records (info) stop ($n1, then $n2)" test "$n1" -eq "$n2"

echo '{"log.level": }' >"$T/c/development.json"
kill -HUP "$PID"
check "a bad reload is logged with its place" \
  wait_for 'reload refused, the configuration stays as it was: c/development.json:1:15: expected a value' "$T/log.json"
check "the service keeps running" kill -0 "$PID"
http hello "$U/hello"
check "and serving, with the configuration it had (got $code)" body_is hello 'hello, reloaded\n'

echo '{"log.level": "info"}' >"$T/c/development.json"
kill -HUP "$PID"
check "a good reload after a bad one applies" wait_for '"msg":"configuration reloaded"' "$T/log.json"
http hello "$U/hello"
check "the name comes back from common.json" body_is hello 'hello, tests\n'
check "access records are logged again" wait_for "\"req_id\":\"$(sed -n 's/^X-Request-Id: //Ip' "$T/hello.h")\"" "$T/log.json"

# ---- SIGTERM: a graceful stop, the last interval's counts sent ----------------------------
# These requests' counts go out in the last intervals, the final one by the flush at exit.
for i in $(seq 1 10); do http last "$U/status/201"; done
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
wait "$PID"
rc=$?
PID=
check "SIGTERM stops it with status 0" test $rc -eq 0
check "\"stopping\" is logged with its reason" test "$(rec 'r.msg === "stopping"' r.reason)" = '"SIGTERM"'
check "\"drained\" is logged" test "$(rec 'r.msg === "drained"' 'typeof r.took_ms')" = '"number"'
check "\"stopped\" is the last record" test "$(tail -n 1 "$T/log.json" | grep -c '"msg":"stopped"')" = 1
sent=0
for _ in $(seq 1 40); do
  sent=$(awk -F'[:|]' '/\.http\.responses\.status\.201:/ { n += $2 } END { print n + 0 }' "$T/statsd.txt")
  [ "$sent" = 10 ] && break
  sleep 0.05
done
check "the last interval's counts are sent at exit (statsd got $sent of 10)" test "$sent" = 10
kill "$RX" 2>/dev/null
wait "$RX" 2>/dev/null
RX=

# ---- bunyan's CLI reads the log ------------------------------------------------------------
rc=0
"$BUNYAN" -o short "$T/log.json" >"$T/out" 2>"$T/err" || rc=$?
check "bunyan -o short reads the log (exit 0)" test $rc -eq 0
check "it shows the access record's id" out_has "INFO hello: request (req_id=my-id-1, route=/hello/:name"
check "it shows the request line" out_has "GET /hello/ada HTTP/1.1"
check "it shows the status line" out_has "HTTP/1.1 405 Method Not Allowed"

# ---- under systemd: standard error is the journal -------------------------------------------
# systemd names the stream in JOURNAL_STREAM (device:inode of the journal's socket); here a file
# stands in for it. With a log file and log.stderr left to its default, records go to the file
# only; asked for explicitly, to both.
mkdir -p "$T/j"
echo '{"log": {"file": "j.json"}}' >"$T/j/common.json"
journal_run() { # journal_run LOG ERR FLAGS...: hello until it listens, then SIGTERM
  local log=$1 err=$2
  shift 2
  : >"$err"
  (cd "$T" && JOURNAL_STREAM=$(stat -c '%d:%i' "$err") POTTER_ENV= \
    POTTER_DATACENTER_FILE="$T/datacenter" exec "$HELLO" --config-dir=j --http.port=0 \
    --stats.host= --log.file="$log" "$@" >"$T/out" 2>>"$err") &
  PID=$!
  wait_for '"msg":"listening on' "$T/$log"
  kill -TERM "$PID"
  wait "$PID"
  PID=
}
journal_run j1.json "$T/jerr1"
check "under systemd with a log file, records stay out of the journal" \
  test "$(grep -c '"msg":' "$T/jerr1")" -eq 0
check "and the log says why" grep -qF 'standard error is the systemd journal' "$T/j1.json"
journal_run j2.json "$T/jerr2" --log.stderr=true
check "log.stderr=true asks for both" grep -qF '"msg":"listening on' "$T/jerr2"
: >"$T/jerr3"
(cd "$T" && JOURNAL_STREAM=1:2 POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" exec "$HELLO" \
  --config-dir=j --http.port=0 --stats.host= --log.file=j3.json >"$T/out" 2>"$T/jerr3") &
PID=$!
wait_for '"msg":"listening on' "$T/j3.json"
kill -TERM "$PID"
wait "$PID"
PID=
check "a JOURNAL_STREAM that is not our stderr changes nothing" \
  grep -qF '"msg":"listening on' "$T/jerr3"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
