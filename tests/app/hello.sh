#!/usr/bin/env bash
# tests/app/hello.sh HELLO: pt_app end to end through examples/hello: the informative flags,
# exit status 78 on a bad configuration, the start-up record, configuration changes applied
# and logged on SIGHUP, a refused reload that leaves the service running, a clean stop.
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

HELLO=${1:?usage: hello.sh PATH-TO-HELLO}
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-app-test.XXXXXX")
PID=
RX=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$RX" ] && kill -9 "$RX" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0
rc=0
ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "FAIL: $*"
  echo "  exit status: $rc"
  sed 's/^/  stdout: /' "$T/out" 2>/dev/null | head -20
  sed 's/^/  stderr: /' "$T/err" 2>/dev/null | head -20
}
check() {
  local what=$1
  shift
  if "$@"; then ok; else bad "$what"; fi
}
out_has() { grep -qF -- "$1" "$T/out"; }
err_has() { grep -qF -- "$1" "$T/err"; }
run() { # run ARGS...: hello in $T/c with the test's datacenter file, output to out and err
  (cd "$T" && POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" "$HELLO" "$@" >"$T/out" 2>"$T/err")
  rc=$?
}
# wait_for TEXT FILE: until FILE has a line containing TEXT, at most 10 s.
wait_for() {
  for _ in $(seq 1 200); do
    grep -qF -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# record FIELD MSG: the JSON value of FIELD in the last record of log.json whose msg is MSG.
record() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
    const recs = lines.map((l) => JSON.parse(l)).filter((r) => r.msg === process.argv[3]);
    const r = recs[recs.length - 1];
    process.stdout.write(r === undefined ? "<none>" : JSON.stringify(r[process.argv[2]]));
  ' "$T/log.json" "$1" "$2"
}

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
  grep -qE '^hello 0\.1\.0 \(potter [0-9]+\.[0-9]+\.[0-9]+, build [0-9a-f]{40}\)$' "$T/out"

run --help
check "--help exits 0" test $rc -eq 0
check "--help lists log.level with its values" out_has "--log.level=trace|debug|info|warn|error|fatal|off"
check "--help lists the service's own key" out_has "--hello.interval=DURATION"
check "--help gives a default and a range" out_has 'time between two requests (default "1s"; 10ms..1h)'

run --config-dir=c --check-config
check "--check-config exits 0" test $rc -eq 0
check "--check-config names env, datacenter and files" \
  out_has "hello: configuration OK (env development, datacenter dc7; files: c/common.json, c/development.json)"

run --config-dir=c --print-config --hello.interval=2s
check "--print-config exits 0" test $rc -eq 0
check "--print-config shows a flag's origin" out_has '"hello.interval": {"value": "2s", "origin": "--hello.interval"}'
check "--print-config shows a file's origin" out_has '"log.level": {"value": "debug", "origin": "c/development.json:1:2"}'

# ---- a bad configuration: 78, every problem named -------------------------------------------
echo '{"log.level": "verbose", "hello": {"intervall": "1s"}}' >"$T/c/staging.json"
run --config-dir=c --env=staging --hello.interval=1ms
check "a bad configuration exits 78" test $rc -eq 78
check "a bad value is named with its place" \
  err_has 'hello: c/staging.json:1:15: log.level: expected one of trace, debug, info, warn, error, fatal, off, found "verbose"'
check "an unknown key gets a suggestion" \
  err_has 'hello: c/staging.json:1:36: unknown key "hello.intervall" (did you mean hello.interval?)'
check "a flag out of range is named" \
  err_has 'hello: --hello.interval=1ms: expected a duration such as "250ms" in 10ms..1h, found "1ms"'
check "nothing is logged by a service that does not start" test ! -e "$T/log.json"

rm -f "$T/datacenter"
run --config-dir=c --env=production
check "production without a datacenter exits 78" test $rc -eq 78
check "production without a datacenter says how to give one" \
  err_has "hello: the production environment needs a datacenter: pass --datacenter=NAME or write it to $T/datacenter"
echo "dc7" >"$T/datacenter"

# ---- running: the start-up record, metrics, reload, a refused reload, stop ----------------
# A UDP receiver for the statsd datagrams: node, which the test peers need anyway.
node -e '
  const s = require("dgram").createSocket("udp4"), fs = require("fs");
  s.on("message", (m) => fs.appendFileSync(process.argv[1], m.toString() + "\n"));
  s.bind(0, "127.0.0.1", () => fs.writeFileSync(process.argv[2], String(s.address().port)));
  setTimeout(() => process.exit(0), 60000); /* never outlives the test */
' "$T/statsd.txt" "$T/statsd.port" &
RX=$!
for _ in $(seq 1 100); do [ -s "$T/statsd.port" ] && break; sleep 0.05; done
(cd "$T" && POTTER_ENV= POTTER_DATACENTER_FILE="$T/datacenter" exec "$HELLO" --config-dir=c \
  --hello.interval=20ms --stats.port="$(cat "$T/statsd.port")" --stats.interval=100ms \
  >"$T/out" 2>"$T/err") &
PID=$!
check "the start-up record is written" wait_for '"msg":"service starting"' "$T/log.json"
check "it carries the version" test "$(record version 'service starting')" = '"0.1.0"'
check "it carries the build id" grep -qE '"build_id":"[0-9a-f]{40}"' "$T/log.json"
check "it carries the environment" test "$(record env 'service starting')" = '"development"'
check "it carries the datacenter" test "$(record datacenter 'service starting')" = '"dc7"'
check "it carries the files loaded" \
  test "$(record config_files 'service starting')" = '["c/common.json","c/development.json"]'
check "debug records are logged at first" wait_for '"msg":"request received"' "$T/log.json"
host=$(hostname | tr '.' '_')
check "the service's own counter reaches statsd" wait_for "hello.$host.requests.route.hello:" "$T/statsd.txt"
check "its timer reaches statsd in ms" grep -qE "^hello\.$host\.request_time\.route\.hello:[0-9.]+\|ms" "$T/statsd.txt"
check "the process's metrics come by default" wait_for "hello.$host.process.rss_bytes:" "$T/statsd.txt"
check "the logger's counts by level come by default" wait_for "hello.$host.log.records.level.info:" "$T/statsd.txt"
check "pt-ops's loop lag comes by default" wait_for "hello.$host.pt_ops.loop.lag:" "$T/statsd.txt"

echo '{"log.level": "warn", "log.file": "other.json"}' >"$T/c/development.json"
kill -HUP "$PID"
check "a reload logs the change" wait_for '"msg":"configuration changed"' "$T/log.json"
check "the change names key, old, new and origin" grep -qF \
  '"key":"log.level","old":"debug","new":"warn","origin":"c/development.json:1:2"' "$T/log.json"
check "a fixed key changed by the reload is named in a warning" \
  grep -qF 'keys fixed at start-up keep their value until a restart: log.file' "$T/log.json"
sleep 0.2
n1=$(grep -c '"msg":"request done"' "$T/log.json")
sleep 0.3
n2=$(grep -c '"msg":"request done"' "$T/log.json")
check "the new level applies: info records stop" test "$n1" -eq "$n2"

echo '{"log.level": }' >"$T/c/development.json"
kill -HUP "$PID"
check "a bad reload is logged with its place" \
  wait_for 'reload refused, the configuration stays as it was: c/development.json:1:15: expected a value' "$T/log.json"
check "the service keeps running" kill -0 "$PID"

echo '{"log.level": "info"}' >"$T/c/development.json"
kill -HUP "$PID"
check "a good reload after a bad one applies" wait_for '"msg":"configuration reloaded"' "$T/log.json"

sleep 0.2 # requests are logged again (info): the last one logged is the last one made
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
wait "$PID"
rc=$?
PID=
check "SIGTERM stops it with status 0" test $rc -eq 0
check "the last record is flushed" grep -qF '"msg":"hello stopping"' "$T/log.json"
# Every request was counted, the last ones by the flush at exit: the sum of the counter's
# deltas statsd received is the number of the last request logged.
last=$(record req_id 'request done' | tr -dc '0-9' | sed 's/^0*//')
sent=0
for _ in $(seq 1 40); do
  sent=$(awk -F'[:|]' '/requests\.route\.hello:/ { n += $2 } END { print n + 0 }' "$T/statsd.txt")
  [ "$sent" = "$last" ] && break
  sleep 0.05
done
check "the last interval's counts are sent at exit (statsd got $sent of $last)" test "$sent" = "$last"
kill "$RX" 2>/dev/null
wait "$RX" 2>/dev/null

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
