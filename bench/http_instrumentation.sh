#!/usr/bin/env bash
# Instrumentation overhead, alternated: the demo (examples/hello, GET /hello, one worker) with
# everything on (JSON access log to a file, metrics, request ids) and with everything off,
# both running side by side, loaded by wrk in short rounds that alternate between them, so
# that a machine whose speed drifts over a run (these VMs do, by 10% and more) weighs on both
# alike. CPU time is read per thread from /proc/PID/task/TID/schedstat (nanoseconds) before and
# after each round. Prints each round's CPU time per request (the whole process), each thread's
# median per request, on and off, and the medians as
# `bench http.instrumentation_alternated <on> us vs off <off> us ratio <off/on>` (budget >= 0.90).
#
#     bench/http_instrumentation.sh build
#
# These VMs' speed swings by 20% and more from one second to the next (noisy neighbours): a
# round's ratio ranges from 0.75 to 1.05 at one commit, so the medians take 50 short rounds;
# and a process's cost moves by up to 5% with where its memory lands, so the pair is started
# five times, 10 rounds each (with three starts the median of the per-round ratios moved by
# 0.03 between runs at one commit; with five, by 0.02). The per-round ratios are printed too,
# with their median (the paired figure: each on round against the off round next to it) and
# middle half.
#
# Environment (optional): PT_BENCH_INSTR_ROUNDS=50 (rounds per server, in all),
# PT_BENCH_INSTR_STARTS=5 (fresh pairs of demos), PT_BENCH_INSTR_SECONDS=1 (seconds per round), PT_BENCH_HTTP_CONNECTIONS=50 (wrk connections), PT_BENCH_INSTR_ON_FLAGS
# and PT_BENCH_INSTR_OFF_FLAGS (more flags for either demo, e.g. --log.ring_size=256KiB).
set -euo pipefail

build=${1:?usage: bench/http_instrumentation.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
rounds=${PT_BENCH_INSTR_ROUNDS:-50}
starts=${PT_BENCH_INSTR_STARTS:-5}
seconds=${PT_BENCH_INSTR_SECONDS:-1}
connections=${PT_BENCH_HTTP_CONNECTIONS:-50}

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_need http_instrumentation wrk curl python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pt-instr-bench.XXXXXX")
pids=()
cleanup() {
  stop_all
  rm -rf "$tmp"
}
trap cleanup EXIT

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

# threads PID: "name nanoseconds" for each of its threads, by name.
threads() {
  local t
  for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm") $(awk '{print $1}' "$t/schedstat")"; done |
    sort
}

# stop_all: stops the demos started so far (their pids leave pids[]).
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  pids=()
}

# Each round appends "round which thread ns-per-request" lines to $tmp/rounds. The pair of
# demos is started afresh for each of `starts` runs of rounds: where a process's memory lands
# moves its cost by up to 5% for its whole life, which alternating rounds cannot even out.
: >"$tmp/rounds"
r=0
for s in $(seq "$starts"); do
  port_on=$(bench_free_port)
  # shellcheck disable=SC2086 # the flags split on spaces
  start on "$port_on" ${PT_BENCH_INSTR_ON_FLAGS:-}
  port_off=$(bench_free_port)
  # shellcheck disable=SC2086
  start off "$port_off" --http.access_log=false --http.metrics=false --http.request_id=false \
    ${PT_BENCH_INSTR_OFF_FLAGS:-}
  pid_on=${pids[0]} pid_off=${pids[1]}
  for port in "$port_on" "$port_off"; do
    wrk -t1 -c"$connections" -d1s "http://127.0.0.1:$port/hello" >/dev/null # warm up
  done
  for _ in $(seq $((rounds / starts))); do
    r=$((r + 1))
    # Alternate which goes first, so that neither always follows the other.
    if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
    for which in $order; do
      if [ "$which" = on ]; then pid=$pid_on port=$port_on; else pid=$pid_off port=$port_off; fi
      threads "$pid" >"$tmp/a"
      n=$(wrk -t1 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$port/hello" |
        awk '/requests in/ {print $1}')
      threads "$pid" >"$tmp/b"
      join "$tmp/a" "$tmp/b" |
        awk -v r="$r" -v w="$which" -v n="$n" '{printf "%s %s %s %.1f\n", r, w, $1, ($3 - $2) / n}' \
          >>"$tmp/rounds"
    done
    awk -v r="$r" -v s="$s" '$1 == r {t[$2] += $4} END {printf "# start %d round %d: on %.3f us/request, off %.3f us/request\n", s, r, t["on"] / 1000, t["off"] / 1000}' "$tmp/rounds"
  done
  stop_all
done

python3 - "$tmp/rounds" <<'PY'
import collections, statistics, sys
per_round = collections.defaultdict(float)
per_thread = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, which, thread, ns = line.split()
    per_round[(int(r), which)] += float(ns)
    per_thread[(which, thread)].append(float(ns))
for which in ("on", "off"):
    parts = ["%s %.0f" % (t, statistics.median(v)) for (w, t), v in sorted(per_thread.items())
             if w == which and statistics.median(v) >= 1]
    print("# %s, threads (median ns/request): %s" % (which, ", ".join(parts)))
rounds = sorted({r for r, _ in per_round})
on = [per_round[(r, "on")] / 1000 for r in rounds]
off = [per_round[(r, "off")] / 1000 for r in rounds]
m_on, m_off = statistics.median(on), statistics.median(off)
ratios = sorted(b / a for a, b in zip(on, off))
print("# per-round off/on: " + " ".join("%.3f" % x for x in ratios))
q = len(ratios) // 4
print("# median of the per-round ratios %.3f, middle half %.3f .. %.3f"
      % (statistics.median(ratios), ratios[q], ratios[len(ratios) - 1 - q]))
print("bench http.instrumentation_alternated %.2f us vs off %.2f us ratio %.2f"
      % (m_on, m_off, m_off / m_on))
PY
