#!/usr/bin/env bash
# Instrumentation overhead, alternated: the demo (examples/hello, GET /hello, one worker) with
# everything on (JSON access log to a file, metrics, request ids) and with everything off,
# both running side by side, loaded by wrk in short rounds that alternate between them, so
# that a machine whose speed drifts over a run (these VMs do, by 10% and more) weighs on both
# alike. Prints each round's CPU time per request (the whole process, from /proc/PID/stat),
# the per-thread split of the last round, and the medians as
# `bench http.instrumentation_alternated <on> us vs off <off> us ratio <off/on>` (budget >= 0.90).
#
#     bench/http_instrumentation.sh build
#
# Environment (optional): PT_BENCH_INSTR_ROUNDS=10 (rounds per server), PT_BENCH_INSTR_SECONDS=2
# (seconds per round), PT_BENCH_HTTP_CONNECTIONS=50 (wrk connections).
set -euo pipefail

build=${1:?usage: bench/http_instrumentation.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
rounds=${PT_BENCH_INSTR_ROUNDS:-10}
seconds=${PT_BENCH_INSTR_SECONDS:-2}
connections=${PT_BENCH_HTTP_CONNECTIONS:-50}

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "http_instrumentation: $tool not found (scripts/deps.sh installs it)" >&2
    exit 1
  }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pt-instr-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME PORT [extra flags...]: the demo in the background, its pid in pids[].
start() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$tmp/$name"
  "$build/examples/hello/hello" --config-dir="$top/examples/hello/config" --http.host=127.0.0.1 \
    --http.port="$port" --http.workers=1 --log.stderr=false --log.file="$tmp/$name/hello.log" \
    --log.file_keep=1000 "$@" >"$tmp/$name/out" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/hello" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "http_instrumentation: $name did not answer GET /hello within 5 s" >&2
  exit 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

port_on=$(free_port)
start on "$port_on"
port_off=$(free_port)
start off "$port_off" --http.access_log=false --http.metrics=false --http.request_id=false
pid_on=${pids[0]} pid_off=${pids[1]}
hz=$(getconf CLK_TCK)

for port in "$port_on" "$port_off"; do
  wrk -t1 -c"$connections" -d1s "http://127.0.0.1:$port/hello" >/dev/null # warm up
done

on=() off=()
for r in $(seq "$rounds"); do
  # Alternate which goes first, so that neither always follows the other.
  if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
  for which in $order; do
    if [ "$which" = on ]; then pid=$pid_on port=$port_on; else pid=$pid_off port=$port_off; fi
    a=$(cpu_ticks "$pid")
    n=$(wrk -t1 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$port/hello" |
      awk '/requests in/ {print $1}')
    b=$(cpu_ticks "$pid")
    us=$(python3 -c "print(round(($b - $a) / $hz / $n * 1e6, 3))")
    if [ "$which" = on ]; then on+=("$us"); else off+=("$us"); fi
  done
  echo "# round $r: on ${on[-1]} us/request, off ${off[-1]} us/request"
done

threads() {
  local t
  for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done
}
threads "$pid_on" | sort >"$tmp/a"
n=$(wrk -t1 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$port_on/hello" |
  awk '/requests in/ {print $1}')
threads "$pid_on" | sort >"$tmp/b"
echo "# on, threads (us/request): $(join "$tmp/a" "$tmp/b" |
  awk -v n="$n" -v hz="$hz" '$3 > $2 {printf "%s %.2f ", $1, ($3 - $2) / hz / n * 1e6}')"

python3 - "${on[*]}" "${off[*]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
ratios = sorted(b / a for a, b in zip(on, off))
print("# per-round off/on: " + " ".join("%.3f" % r for r in ratios))
print("bench http.instrumentation_alternated %.2f us vs off %.2f us ratio %.2f"
      % (m_on, m_off, m_off / m_on))
PY
