#!/usr/bin/env bash
# tests/app/drain.sh HELLO: graceful shutdown under load, through examples/hello.
#   1. 50 keep-alive connections keep GET /quote (200 ms each) and GET /hello busy, two more
#      have half a request sent; SIGTERM comes after 1 s. Every request the server read (it is
#      in the access log) gets a complete 2xx response, and none gets a partial one; responses
#      given while draining say Connection: close and the client sends nothing more on those
#      connections; new connections from 100 ms after the signal are refused at once; the
#      process exits 0 within app.drain_timeout + 1 s, logging "stopping" and "drained".
#   2. A handler slower than the drain deadline (5 s against 500 ms): the process still exits
#      0 within about 1.5 s of the signal and says "drain deadline passed".
# drain_client.js (beside this file) makes the load and records each request's outcome.
# Prints one line per failed check and "N passed, M failed"; exits 1 on failure.
set -u

HELLO=${1:?usage: drain.sh PATH-TO-HELLO}
case $HELLO in /*) ;; *) HELLO=$PWD/$HELLO ;; esac
CLIENT=$(cd "$(dirname "$0")" && pwd)/drain_client.js
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-drain-test.XXXXXX")
PID=
CPID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../checks.sh"
now_ms() { date +%s%3N; }

# start LOG FLAGS...: hello in the background ($PID), its log in $T/LOG; sets $port.
start() {
  local log=$1
  shift
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null # one that did not stop in the last case
  (cd "$T" && POTTER_ENV= exec "$HELLO" --config-dir=c --datacenter=dc7 --http.port=0 \
    --log.stderr=false --log.file="$log" --stats.host= "$@" >"$T/out" 2>"$T/err") &
  PID=$!
  port=
  wait_for '"msg":"listening on 127.0.0.1:' "$T/$log" &&
    port=$(grep -F '"msg":"listening on 127.0.0.1:' "$T/$log" | grep -oE '"port":[0-9]+' | cut -d: -f2)
  [ -n "$port" ]
}
# stopped_within MS: waits (at most 10 s) for $PID to exit; true when it did within MS of the
# signal (the client wrote its time to $T/rec.json.sigterm); sets $took and $rc.
stopped_within() {
  local sig
  took=-1
  rc=-1
  for _ in $(seq 1 500); do [ -s "$T/rec.json.sigterm" ] && break; sleep 0.02; done
  sig=$(cat "$T/rec.json.sigterm" 2>/dev/null) || return 1
  for _ in $(seq 1 1000); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.01
  done
  took=$(($(now_ms) - sig))
  kill -0 "$PID" 2>/dev/null && return 1
  wait "$PID"
  rc=$?
  PID=
  [ "$took" -le "$1" ]
}
# client_done: waits (at most 15 s) for the client, which bounds its own run.
client_done() {
  for _ in $(seq 1 300); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$CPID" 2>/dev/null && return 1
  wait "$CPID"
  local c=$?
  CPID=
  return $c
}
show_log() { sed 's/^/  log: /' "$T/$1" | grep -v '"msg":"request"' | head -20; }

mkdir -p "$T/c"
echo '{"hello": {"name": "tests"}}' >"$T/c/common.json"

# ---- 1. 50 busy connections, SIGTERM -------------------------------------------------------
if ! start drain.json --http.workers=2 --app.drain_timeout=3s --hello.dep_latency=200ms; then
  bad "the service starts"
  sed 's/^/  stderr: /' "$T/err"
  echo "$passed passed, $failed failed"
  exit 1
fi
rm -f "$T/rec.json" "$T/rec.json.sigterm"
node "$CLIENT" load "$port" "$PID" "$T/rec.json" 50 1000 6000 2>"$T/client.err" &
CPID=$!
stopped_within 4000
check "the process exits within drain_timeout + 1 s of SIGTERM (took $took ms)" test $? -eq 0
check "with status 0 (got $rc)" test "$rc" -eq 0
check "the client finishes" client_done
check "the client wrote its record" test -s "$T/rec.json"
check "\"stopping\" is logged" grep -qF '"msg":"stopping","reason":"SIGTERM"' "$T/drain.json"
check "\"drained\" is logged" grep -qF '"msg":"drained"' "$T/drain.json"
check "no deadline warning" test "$(grep -c 'drain deadline passed' "$T/drain.json")" -eq 0

node "$CLIENT" summary "$T/rec.json" "$T/drain.json" >"$T/summary" 2>"$T/summary.err"
while IFS='=' read -r k v; do
  case $k in [a-z_]*) printf -v "s_$k" '%s' "$v" ;; esac
done <"$T/summary"
n() { local v="s_$1"; echo "${!v:--1}"; }
sed 's/^/  summary: /' "$T/summary.err" | head -30
check "there was load: over 100 requests answered before SIGTERM (got $(n before_sigterm))" \
  test "$(n before_sigterm)" -gt 100
check "every request before SIGTERM was answered 2xx ($(n failed_before_sigterm) were not)" \
  test "$(n failed_before_sigterm)" -eq 0
check "no connection was closed before SIGTERM ($(n closed_before_sigterm) were)" \
  test "$(n closed_before_sigterm)" -eq 0
check "no response was partial ($(n partial) were)" test "$(n partial)" -eq 0
check "no bytes came that were not asked for ($(n unasked) connections)" test "$(n unasked)" -eq 0
check "every request in the access log got a complete 2xx ($(n logged_not_answered_2xx) of $(n logged) did not)" \
  test "$(n logged_not_answered_2xx)" -eq 0
check "every complete response is in the access log ($(n answered_not_logged) are not)" \
  test "$(n answered_not_logged)" -eq 0
check "every response was 2xx ($(n answered_not_2xx) were not)" test "$(n answered_not_2xx)" -eq 0
check "every response echoed its X-Request-Id ($(n id_not_echoed) did not)" test "$(n id_not_echoed)" -eq 0
check "the requests in flight at SIGTERM were answered with Connection: close ($(n close_hdr) such responses, 25 at least)" \
  test "$(n close_hdr)" -ge 25
check "nothing was sent after Connection: close ($(n sent_after_close))" test "$(n sent_after_close)" -eq 0
check "the two half-sent requests were read to their end and answered 200 ($(n half_answered))" \
  test "$(n half_answered)" -eq 2
check "the server closed every connection ($(n open_at_end) left open)" test "$(n open_at_end)" -eq 0
check "a connection tried 100 ms after SIGTERM is refused ($(n probes_refused) of $(n probes) were, the first at +$(n first_probe_ms) ms)" \
  test "$(n probes)" -eq 5 -a "$(n probes_refused)" -eq 5 -a "$(n first_probe_ms)" -ge 100
check "refused at once, not left hanging (slowest $(n probe_max_ms) ms)" test "$(n probe_max_ms)" -lt 500
if [ "$failed" -gt 0 ]; then
  sed 's/^/  client: /' "$T/client.err" | head -10
  show_log drain.json
fi

# ---- 2. a handler slower than the drain deadline -------------------------------------------
f=$failed
if ! start slow.json --http.workers=2 --app.drain_timeout=500ms --hello.dep_latency=5s; then
  bad "the service starts (slow handler)"
  sed 's/^/  stderr: /' "$T/err"
else
  rm -f "$T/rec.json" "$T/rec.json.sigterm"
  node "$CLIENT" load "$port" "$PID" "$T/rec.json" 5 300 3000 2>"$T/client.err" &
  CPID=$!
  stopped_within 1500
  check "the process exits within about 1.5 s of SIGTERM (took $took ms)" test $? -eq 0
  check "with status 0 (got $rc)" test "$rc" -eq 0
  check "it says the deadline passed" \
    grep -qF '"msg":"drain deadline passed: requests still in flight were cut off"' "$T/slow.json"
  check "the warning gives the deadline" grep -qF '"drain_timeout_ms":500' "$T/slow.json"
  check "\"stopped\" is logged" grep -qF '"msg":"stopped"' "$T/slow.json"
  check "the client finishes" client_done
  node "$CLIENT" summary "$T/rec.json" "$T/slow.json" >"$T/summary" 2>"$T/summary.err"
  while IFS='=' read -r k v; do
    case $k in [a-z_]*) printf -v "s_$k" '%s' "$v" ;; esac
  done <"$T/summary"
  check "the requests in flight are cut at the deadline (the last at +$(n last_end_ms) ms)" \
    test "$(n last_end_ms)" -le 1000
  check "the cut requests got no partial response ($(n partial))" test "$(n partial)" -eq 0
  check "the half-sent requests were still answered 200 ($(n half_answered))" test "$(n half_answered)" -eq 2
  check "the server closed every connection ($(n open_at_end) left open)" test "$(n open_at_end)" -eq 0
  [ "$failed" -gt "$f" ] && show_log slow.json
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
