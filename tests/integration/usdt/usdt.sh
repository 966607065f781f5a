#!/usr/bin/env bash
# tests/integration/usdt/usdt.sh HELLO: libpotter's USDT probes (sys/sdt.h), as tracers see
# them. The probes are in the binary (readelf lists potter:http__request__start,
# potter:http__request__done and potter:log__record), and they fire with the right arguments:
# perf, the real peer here, puts a uprobe on http__request__done of a running demo, three
# requests are made (200, 404, 503), and perf's record of the probe shows the three statuses
# in order. Needs root and uprobes for the second part: without them it says so and checks
# only the first.
set -u

HELLO=${1:?usage: usdt.sh PATH-TO-HELLO}
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-usdt-test.XXXXXX")
PID=
PROBED=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$PROBED" ] && perf probe -q -d sdt_potter:http__request__done 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../checks.sh"

readelf -n "$HELLO" >"$T/notes"
for probe in http__request__start http__request__done log__record; do
  check "the binary carries potter:$probe" grep -qE "Name: $probe\$" "$T/notes"
done

if ! command -v perf >/dev/null || [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: firing the probes needs perf and root; only their presence was checked"
  finish
fi
cp "$HELLO" "$T/hello"
mkdir -p "$T/config"
# A build-id cache of the test's own (global state left alone), then a uprobe event for the
# probe (perf probe), which perf record then records.
P="perf --buildid-dir $T/buildid"
if ! $P buildid-cache --add "$T/hello" 2>"$T/perf.err" ||
  ! $P probe -q -x "$T/hello" sdt_potter:http__request__done 2>>"$T/perf.err"; then
  echo "SKIP: perf cannot place uprobes here ($(tail -n 1 "$T/perf.err")); only presence checked"
  finish
fi
PROBED=1
(cd "$T" && exec ./hello --config-dir=config --http.port=0 --stats.host= --log.stderr=false \
  --log.file=log.json >"$T/out" 2>&1) &
PID=$!
check "the demo starts" wait_for '"msg":"listening on' "$T/log.json"
port=$(grep -o '"msg":"listening on 127.0.0.1:[0-9]*' "$T/log.json" | grep -o '[0-9]*$')
timeout 20 perf record -q -e sdt_potter:http__request__done -p "$PID" -o "$T/perf.data" \
  -- sleep 3 >"$T/perf.err" 2>&1 &
REC=$!
sleep 1 # perf attaches
for path in /hello /nope /status/503; do
  curl -s -m 5 -o /dev/null "http://127.0.0.1:$port$path"
done
rc=0
wait "$REC" || rc=$?
if [ "$rc" -ne 0 ] && grep -qiE "uprobe|tracefs|debugfs|permission|not supported" "$T/perf.err"; then
  echo "SKIP: perf cannot place uprobes here ($(tail -n 1 "$T/perf.err")); only presence checked"
  finish
fi
perf script -i "$T/perf.data" 2>/dev/null | grep -o 'arg1=[0-9]*' | tr '\n' ' ' >"$T/statuses"
check "perf saw each request end, with its status ($(cat "$T/statuses"))" \
  test "$(cat "$T/statuses")" = "arg1=200 arg1=404 arg1=503 "
kill -TERM "$PID"
wait "$PID"
PID=
finish
