#!/usr/bin/env bash
# Instructions per request of the demo (examples/hello, GET /hello, one worker), by thread,
# with everything on (JSON access log to a file, metrics, request ids) and everything off,
# counted by valgrind's callgrind: repeatable where CPU time is not. One keep-alive client
# sends 500 requests to warm up, the counts are zeroed, then 5,000 more are counted.
# Callgrind counts no system call, so this is the instrumentation's user-space share only;
# bench/http_instrumentation.sh measures the whole of it in time.
#
#     bench/http_callgrind.sh build         # about 1 min
set -euo pipefail

build=${1:?usage: bench/http_callgrind.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
requests=${PT_BENCH_CG_REQUESTS:-5000}

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_need http_callgrind valgrind callgrind_control python3 curl

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pt-cg-bench.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# send PORT N: N keep-alive GET /hello on one connection, each answer read before the next.
send() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
req = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: wrk\r\n\r\n" % port
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in buf[:end].split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(buf) >= end + 4 + length:
                buf = buf[end + 4 + length:]
                break
        data = s.recv(65536)
        if not data:
            sys.exit("http_callgrind: the server closed the connection")
        buf += data
s.close()
PY
}

# measure NAME [flags...]: prints "NAME thread-name instructions-per-request" lines.
measure() {
  local name=$1 port
  shift
  port=$(bench_free_port)
  mkdir -p "$tmp/$name"
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/$name/cg.%p" \
    "$build/examples/hello/hello" --config-dir="$top/examples/hello/config" \
    --http.host=127.0.0.1 --http.port="$port" --http.workers=1 --log.stderr=false \
    --log.file="$tmp/$name/hello.log" "$@" >"$tmp/$name/out" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/hello" 2>/dev/null; then break; fi
    sleep 0.2
  done
  send "$port" 500
  sleep 1
  callgrind_control -z "$pid" >/dev/null 2>&1
  send "$port" "$requests"
  sleep 1.5
  callgrind_control -d "$pid" >/dev/null 2>&1
  # Valgrind numbers threads in the order they were made, as their ids go up.
  local names=() t
  for t in $(ls "/proc/$pid/task" | sort -n); do names+=("$(cat "/proc/$pid/task/$t/comm")"); done
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  # The dump after the zeroing: one file per thread, cg.PID.1-NN, NN its valgrind number.
  local f total nn
  for f in "$tmp/$name"/cg.*.1-*; do
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    [ -n "$total" ] && [ "$total" -gt $((requests * 20)) ] || continue
    nn=$((10#${f##*-}))
    echo "$name ${names[nn - 1]:-thread$nn} $((total / requests))"
  done
}

on=$(measure on)
off=$(measure off --http.access_log=false --http.metrics=false --http.request_id=false)
echo "$on" | sed 's/^/# /'
echo "$off" | sed 's/^/# /'
sum() { awk '{s += $3} END {print s}'; }
on_total=$(echo "$on" | sum)
off_total=$(echo "$off" | sum)
echo "# threads with more than 20 instructions per request are listed"
python3 -c "print('bench http.instructions_per_request %d Ir vs off %d Ir ratio %.2f' % ($on_total, $off_total, $off_total / $on_total))"
