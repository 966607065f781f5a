#!/usr/bin/env bash
# tests/app/slow_clients.sh HELLO: 200 connections each sending one header byte per second do
# not stop normal requests from being served, and they are cut by the header timeout.
# examples/hello runs with one worker (one loop for everyone) and --http.header_timeout=2s;
# slow_clients.js (beside this file) opens the slow connections and, over their first two
# seconds, makes 20 normal GET /hello requests. Every normal request is answered 200 in under
# 100 ms; every slow connection is answered 408 (Connection: close) and closed within
# header_timeout + 1 s of its first byte; the access log has a 408 record for each.
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

HELLO=${1:?usage: slow_clients.sh PATH-TO-HELLO}
case $HELLO in /*) ;; *) HELLO=$PWD/$HELLO ;; esac
CLIENT=$(cd "$(dirname "$0")" && pwd)/slow_clients.js
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-slow-test.XXXXXX")
PID=
CPID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../checks.sh"

mkdir -p "$T/c"
echo '{"hello": {"name": "tests"}}' >"$T/c/common.json"
(cd "$T" && POTTER_ENV= exec "$HELLO" --config-dir=c --datacenter=dc7 --http.port=0 \
  --http.workers=1 --http.header_timeout=2s --log.stderr=false --log.file=log.json \
  --stats.host= >"$T/out" 2>"$T/err") &
PID=$!
port=
wait_for '"msg":"listening on 127.0.0.1:' "$T/log.json" &&
  port=$(grep -F '"msg":"listening on 127.0.0.1:' "$T/log.json" | grep -oE '"port":[0-9]+' | cut -d: -f2)
if [ -z "$port" ]; then
  bad "the service starts"
  sed 's/^/  stderr: /' "$T/err"
  echo "$passed passed, $failed failed"
  exit 1
fi

# The client stops by itself once every slow connection is closed, 6 s at the latest.
node "$CLIENT" "$port" 200 20 6000 >"$T/summary" 2>"$T/client.err" &
CPID=$!
for _ in $(seq 1 200); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.05; done
crc=-1
if ! kill -0 "$CPID" 2>/dev/null; then
  wait "$CPID"
  crc=$?
  CPID=
fi
check "the client finishes (status $crc)" test "$crc" -eq 0
while IFS='=' read -r k v; do
  case $k in [a-z_]*) printf -v "s_$k" '%s' "$v" ;; esac
done <"$T/summary"
n() { local v="s_$1"; echo "${!v:--1}"; }
sed 's/^/  client: /' "$T/client.err" | head -20

check "200 slow connections sent their first byte ($(n slow_started))" test "$(n slow_started)" -eq 200
check "20 normal requests were made over the first 2 s ($(n normal), the last at +$(n normal_last_started_ms) ms)" \
  test "$(n normal)" -eq 20
check "all normal requests were answered 200 \"hello, tests\" ($(n normal_ok) of 20)" \
  test "$(n normal_ok)" -eq 20
check "each within 100 ms (slowest $(n normal_max_ms) ms)" test "$(n normal_max_ms)" -lt 100
check "every slow connection was cut ($(n slow_cut) of 200)" test "$(n slow_cut)" -eq 200
check "every one was answered 408 ($(n slow_408) of 200; $(n slow_other_answer) got something else)" \
  test "$(n slow_408)" -eq 200
check "with Connection: close ($(n slow_408_close) of 200)" test "$(n slow_408_close)" -eq 200
check "not before the header timeout (first cut $(n cut_min_ms) ms after its first byte)" \
  test "$(n cut_min_ms)" -ge 1990
check "within header_timeout + 1 s (last cut $(n cut_max_ms) ms after its first byte)" \
  test "$(n cut_max_ms)" -le 3000
check "the service is still running" kill -0 "$PID"

kill -TERM "$PID"
for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
rc=-1
if ! kill -0 "$PID" 2>/dev/null; then
  wait "$PID"
  rc=$?
  PID=
fi
check "SIGTERM stops it with status 0 (got $rc)" test "$rc" -eq 0
n408=$(grep -c '"res":{"statusCode":408' "$T/log.json")
check "the access log has a 408 record for each slow connection ($n408)" test "$n408" -eq 200
n200=$(grep -cE '"req_id":"normal-[0-9]+".*"res":\{"statusCode":200' "$T/log.json")
check "and a 200 record for each normal request ($n200)" test "$n200" -eq 20
[ "$failed" -gt 0 ] && grep -v '"msg":"request"' "$T/log.json" | sed 's/^/  log: /' | head -20

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
