#!/usr/bin/env bash
# HTTP throughput: potter's demo (examples/hello, its plain route GET /hello with the JSON access
# log to a file, metrics and request ids on, one worker) against nginx (Debian, one worker,
# `return 200` and a JSON access log to a buffered file: bench/nginx/http_throughput.conf.in),
# loaded by wrk one server at a time, alternating, in one run. Prints requests/s, p50 and p99
# latency, and the server's CPU time per request (potter's whole process, nginx's worker; from
# /proc/PID/stat), and potter's CPU per request with everything on against everything off
# (access log, metrics and request ids). Informational lines start with '#'; the figures come
# last as `bench http.<figure> ...` lines (DESIGN.md, "Tests and benchmarks").
#
#     bench/http_throughput.sh build
#
# Environment (all optional):
#   PT_BENCH_HTTP_ROUNDS=3 PT_BENCH_HTTP_SECONDS=5   rounds, and seconds of load per run
#   PT_BENCH_HTTP_CONNECTIONS=50 PT_BENCH_HTTP_WARMUP=2   wrk connections, warm-up seconds
#   PT_BENCH_HTTP_POTTER_CMD   the potter command, run by bash in its own folder, with @PORT@
#       and @TMP@ (that folder) filled in; `nginx` runs a second nginx as a stand-in for potter
#       (one process, master_process off), which checks the harness: its ratios should be ~1.
#   PT_BENCH_HTTP_POTTER_OFF_ARGS   what the command gets appended to turn everything off
#
# When the demo does not answer GET /hello within 5 s of its start, it prints
# `# http_throughput: skipped: <reason>` and exits 0.
set -euo pipefail

build=${1:?usage: bench/http_throughput.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)

rounds=${PT_BENCH_HTTP_ROUNDS:-3}
seconds=${PT_BENCH_HTTP_SECONDS:-5}
connections=${PT_BENCH_HTTP_CONNECTIONS:-50}
warmup=${PT_BENCH_HTTP_WARMUP:-2}
# --log.file_keep=1000: the demo's config rotates at 64 MiB and keeps 5 files, fewer than a run
# writes; every record must stay countable.
potter_cmd=${PT_BENCH_HTTP_POTTER_CMD:-"$(printf %q "$build/examples/hello/hello") \
--config-dir=$(printf %q "$top/examples/hello/config") --http.host=127.0.0.1 --http.port=@PORT@ \
--http.workers=1 --log.stderr=false --log.file=@TMP@/hello.log --log.file_keep=1000"}
potter_off_args=${PT_BENCH_HTTP_POTTER_OFF_ARGS:-"--http.access_log=false --http.metrics=false \
--http.request_id=false"}
standin=
if [ "$potter_cmd" = nginx ]; then standin=1; fi

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_need http_throughput wrk nginx curl python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pt-http-bench.XXXXXX")
started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do
    if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${started[@]}"; do stop "$pid" 0 5; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "http_throughput: $*" >&2
  exit 1
}

# alive PID: true while PID runs (a zombie, exited but not yet reaped, counts as gone).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop PID SIGNAL SECONDS: sends SIGNAL (0: none), waits up to SECONDS for PID to exit, then
# kills it; reaps it if it is ours. Returns 1 if it had to be killed.
stop() {
  local pid=$1 sig=$2 deadline=$((SECONDS + $3)) rc=0
  if [ "$sig" != 0 ]; then kill "-$sig" "$pid" 2>/dev/null || true; fi
  while alive "$pid" && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    rc=1
  fi
  wait "$pid" 2>/dev/null || true
  return $rc
}

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat, all threads), in clock ticks.
cpu_ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# thread_ticks PID: "name ticks" for each thread of PID (utime + stime), summed by name.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' '_' <"$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
  done 2>/dev/null | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}' | sort
}

# machine_ticks: busy and total clock ticks of all CPUs so far, from /proc/stat.
machine_ticks() {
  awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}

# free_ports N: N distinct ports nobody listens on (bound together, then released).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# render_nginx DIR PORT MASTER(on|off) INSTRUMENTATION(on|off): writes DIR/nginx.conf.
render_nginx() {
  local dir=$1 user='' access="access_log off;" reqid=''
  mkdir -p "$dir"
  # Run as root, the master would hand the worker to "nobody", who cannot enter the temp dir.
  if [ "$(id -u)" -eq 0 ]; then user="user root;"; fi
  if [ "$4" = on ]; then
    access="access_log $dir/access.log json buffer=64k;"
    reqid="add_header X-Request-Id \$pt_request_id always;"
  fi
  sed -e "s|@USER@|$user|" -e "s|@DIR@|$dir|g" -e "s|@PORT@|$2|" -e "s|@MASTER@|$3|" \
    -e "s|@ACCESS_LOG@|$access|" -e "s|@REQUEST_ID@|$reqid|" \
    "$top/bench/nginx/http_throughput.conf.in" >"$dir/nginx.conf"
}

# start_nginx DIR: starts nginx on DIR/nginx.conf; its (master's) pid goes into $started_pid.
start_nginx() {
  nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" >"$1/stdout" 2>&1 &
  started_pid=$!
  started+=("$started_pid")
}

# start_cmd DIR PORT COMMAND: runs COMMAND (@PORT@ and @TMP@ filled in) in DIR; its pid goes into
# $started_pid.
start_cmd() {
  local dir=$1 cmd=${3//@PORT@/$2}
  cmd=${cmd//@TMP@/$1}
  mkdir -p "$dir"
  echo "$cmd" >"$dir/command"
  (cd "$dir" && exec bash -c "exec $cmd") >"$dir/stdout" 2>&1 &
  started_pid=$!
  started+=("$started_pid")
}

# wait_hello PORT PID SECONDS: true once GET /hello answers 200 (false if PID exits first).
wait_hello() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt "$deadline" ] && alive "$2"; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
      "http://127.0.0.1:$1/hello" 2>/dev/null)" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# why DIR: the last lines a server printed, on one line.
why() {
  tail -n 3 "$1/stdout" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'
}

# start_potter NAME ON|OFF PORT: starts potter (or the stand-in), checks it answers; sets
# pid_NAME. The demo not answering skips the benchmark (it is still being written).
start_potter() {
  local name=$1 dir=$tmp/$1 port=$3
  if [ -n "$standin" ]; then
    render_nginx "$dir" "$port" off "$2"
    start_nginx "$dir"
  elif [ "$2" = on ]; then
    start_cmd "$dir" "$port" "$potter_cmd"
  else
    start_cmd "$dir" "$port" "$potter_cmd $potter_off_args"
  fi
  printf -v "pid_${name//-/_}" %s "$started_pid"
  if ! wait_hello "$port" "$started_pid" 5; then
    local reason="GET http://127.0.0.1:$port/hello gave no 200 within 5 s"
    alive "$started_pid" || reason="it exited: $(why "$dir")"
    if [ "$2" = on ]; then
      echo "# http_throughput: skipped: the demo does not serve HTTP ($reason)"
      exit 0
    fi
    die "potter with everything off ($(cat "$dir/command" 2>/dev/null)) does not answer: $reason"
  fi
}

# nginx_worker MASTER: the pid of MASTER's only child, waited for up to 5 s.
nginx_worker() {
  local deadline=$((SECONDS + 5)) kids
  while [ $SECONDS -lt "$deadline" ]; do
    kids=$(pgrep -P "$1" || true)
    if [ -n "$kids" ]; then
      [ "$(echo "$kids" | wc -l)" -eq 1 ] || die "nginx $1 has more than one child: $kids"
      echo "$kids"
      return
    fi
    sleep 0.05
  done
  die "nginx $1 started no worker"
}

read -r port_potter port_nginx port_off < <(free_ports 3)
declare -A port=([potter]=$port_potter [nginx]=$port_nginx [potter-off]=$port_off)
declare -A served=([potter]=0 [nginx]=0 [potter-off]=0)

start_potter potter on "$port_potter"
start_potter potter-off off "$port_off"
render_nginx "$tmp/nginx" "$port_nginx" on on
start_nginx "$tmp/nginx"
nginx_master=$started_pid
wait_hello "$port_nginx" "$nginx_master" 10 ||
  die "nginx does not answer on port $port_nginx: $(why "$tmp/nginx") $(tail -n 3 "$tmp/nginx/error.log" 2>/dev/null)"
nginx_worker=$(nginx_worker "$nginx_master")
started+=("$nginx_worker")
# CPU is counted for potter's whole process and for nginx's worker alone.
declare -A cpu_pid=([potter]=$pid_potter [nginx]=$nginx_worker [potter-off]=$pid_potter_off)

body=$(curl -s --max-time 2 "http://127.0.0.1:$port_potter/hello")
[ "$body" = "hello, world" ] || echo "# WARNING: potter's /hello answered '$body', not 'hello, world'"

clk_tck=$(getconf CLK_TCK)
echo "# machine: $(nproc) CPUs; $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
if [ -n "$standin" ]; then
  echo "# potter: STAND-IN, a second nginx (master_process off: one process) with the same configuration; its figures check the harness, they are not potter's"
else
  echo "# potter: $(cat "$tmp/potter/command")"
  echo "# potter everything off: + $potter_off_args"
fi
echo "# nginx: worker_processes 1, return 200, JSON access log (escape=json) to a file, buffer=64k, keepalive_requests 1000000"
echo "# load: wrk -t1 -c$connections -d${seconds}s --latency http://127.0.0.1:PORT/hello, ${warmup} s warm-up each, $rounds rounds, one server loaded at a time (the others idle), in turn"
echo "# pids: potter $pid_potter, potter-off $pid_potter_off, nginx master $nginx_master worker $nginx_worker; load average $(cut -d' ' -f1-3 /proc/loadavg)"

results=$tmp/results.tsv
: >"$results"

# load NAME SECONDS ROUND: one wrk run against server NAME; ROUND 0 is the warm-up, not recorded.
load() {
  local name=$1 out=$tmp/wrk.out tf=$tmp/wrk.time pid=${cpu_pid[$1]} rc=0
  local cpu0 cpu1 busy0 total0 busy1 total1 stats
  cpu0=$(cpu_ticks "$pid")
  thread_ticks "$pid" >"$tmp/threads.0"
  read -r busy0 total0 < <(machine_ticks)
  { TIMEFORMAT='%U %S'; time timeout $(($2 + 30)) wrk -t1 -c"$connections" -d"$2"s --latency \
    "http://127.0.0.1:${port[$name]}/hello" >"$out" 2>&1 || rc=$?; } 2>"$tf"
  cpu1=$(cpu_ticks "$pid")
  thread_ticks "$pid" >"$tmp/threads.1"
  read -r busy1 total1 < <(machine_ticks)
  [ "$rc" -eq 0 ] || die "wrk against $name failed (status $rc): $(tail -n 3 "$out" | tr '\n' ' ')"
  alive "$pid" || die "$name (pid $pid) exited during the run"
  stats=$(python3 - "$out" "$name" "$3" "$clk_tck" "$((cpu1 - cpu0))" "$(cat "$tf")" \
    "$busy0" "$total0" "$busy1" "$total1" "$(nproc)" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
name, rnd, hz, ticks = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wrk_cpu = sum(float(x) for x in sys.argv[6].split())
busy0, total0, busy1, total1, ncpu = (int(x) for x in sys.argv[7:12])
unit = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
def us(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s)
    return float(m.group(1)) * unit[m.group(2)]
def pct(p):
    return us(re.search(r"^\s*%d%%\s+(\S+)" % p, text, re.M).group(1))
req = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
n, secs = int(req.group(1)), us(req.group(2)) / 1e6
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
cpu = ticks / hz
errors = []
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m: errors.append("%s non-2xx responses" % m.group(1))
m = re.search(r"Socket errors: (.*)", text)
if m: errors.append("socket errors: " + m.group(1))
# The machine's busy CPU beyond the server's and wrk's, over the run's wall time.
span = (total1 - total0) / hz / ncpu
others = max(0.0, (busy1 - busy0) / hz - cpu - wrk_cpu)
what = "warm-up" if rnd == 0 else "round %d" % rnd
print("# %s %s: %d requests in %.2f s, %.0f req/s, p50 %.3f ms, p99 %.3f ms; server CPU %.2f s"
      " (%.2f us/request), wrk %.2f s, other processes %.0f %% of a CPU%s"
      % (what, name, n, secs, rps, pct(50) / 1e3, pct(99) / 1e3, cpu, cpu / n * 1e6, wrk_cpu,
         100 * others / span,
         "; WARNING: " + ", ".join(errors) if errors else ""))
print("R\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.4f" % (name, rnd, n, rps, pct(50), pct(99), cpu / n * 1e6))
EOF
  )
  grep '^#' <<<"$stats"
  # Where the server's time went, thread by thread (potter's threads have names).
  local n
  n=$(grep "^R" <<<"$stats" | cut -f4)
  if [ "$3" -gt 0 ] && [ "$n" -gt 0 ]; then
    join "$tmp/threads.0" "$tmp/threads.1" | awk -v n="$n" -v hz="$clk_tck" -v who="$name" -v r="$3" '
      { d = $3 - $2; if (d > 0) s = s sprintf(" %s %.2f", $1, d / hz / n * 1e6) }
      END { if (s != "") printf "# round %d %s threads (us/request):%s\n", r, who, s }'
  fi
  served[$name]=$((${served[$name]} + $(grep "^R" <<<"$stats" | cut -f4)))
  if [ "$3" -gt 0 ]; then grep '^R' <<<"$stats" | cut -f2- >>"$results"; fi
}

servers=(potter nginx potter-off)
for name in "${servers[@]}"; do load "$name" "$warmup" 0; done
for ((r = 1; r <= rounds; r++)); do
  for ((i = 0; i < ${#servers[@]}; i++)); do
    load "${servers[(i + r - 1) % ${#servers[@]}]}" "$seconds" "$r"
  done
done

# Graceful stops flush the logs: nginx writes its 64k buffer at exit, potter drains its rings.
stop "$nginx_master" QUIT 15 || echo "# WARNING: nginx did not stop within 15 s of SIGQUIT (killed)"
potter_sig=TERM
if [ -n "$standin" ]; then potter_sig=QUIT; fi
stop "$pid_potter" "$potter_sig" 15 || echo "# WARNING: potter did not stop within 15 s (killed)"
stop "$pid_potter_off" "$potter_sig" 15 || echo "# WARNING: potter-off did not stop within 15 s (killed)"

# count_records DIR: access records the server in DIR wrote.
count_records() {
  if [ -n "$standin" ]; then
    cat "$1"/access.log* 2>/dev/null | grep -c '"status"' || true
  else
    cat "$1"/hello.log* 2>/dev/null | grep -c '"res"' || true
  fi
}
nginx_lines=$(wc -l <"$tmp/nginx/access.log" 2>/dev/null || echo 0)
potter_records=$(count_records "$tmp/potter")
off_records=$(count_records "$tmp/potter-off")
echo "# access logs: nginx $nginx_lines lines for ${served[nginx]} requests wrk counted; potter $potter_records records for ${served[potter]}; potter-off $off_records for ${served[potter-off]} (everything off: 0 expected)"
# wrk does not count the requests in flight when its time is up: up to $connections a run.
for who in nginx potter; do
  n=$nginx_lines
  if [ "$who" = potter ]; then n=$potter_records; fi
  if [ "$n" -lt $((${served[$who]} * 99 / 100)) ]; then
    echo "# WARNING: $who logged $n access records for ${served[$who]} requests served"
  fi
done
if [ "$off_records" -gt 0 ]; then
  echo "# WARNING: potter with everything off logged $off_records access records"
fi

python3 - "$results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rnd, n, rps, p50, p99, cpu = line.split("\t")
    r = runs.setdefault(name, {"rps": [], "p50": [], "p99": [], "cpu": []})
    r["rps"].append(float(rps)); r["p50"].append(float(p50) / 1e3)
    r["p99"].append(float(p99) / 1e3); r["cpu"].append(float(cpu))
med = {k: {f: statistics.median(v) for f, v in r.items()} for k, r in runs.items()}
def runs_line(figure, unit, field, a, b, fmt):
    print("# http.%s runs (%s): %s %s | %s %s" % (figure, unit,
          a, " ".join(fmt % x for x in runs[a][field]), b, " ".join(fmt % x for x in runs[b][field])))
runs_line("throughput", "req/s", "rps", "potter", "nginx", "%.0f")
runs_line("cpu_per_request", "us", "cpu", "potter", "nginx", "%.2f")
runs_line("p50", "ms", "p50", "potter", "nginx", "%.3f")
runs_line("p99", "ms", "p99", "potter", "nginx", "%.3f")
runs_line("instrumentation_cpu", "us", "cpu", "potter", "potter-off", "%.2f")
p, x, off = med["potter"], med["nginx"], med["potter-off"]
print("bench http.throughput %.0f req/s vs nginx %.0f req/s ratio %.2f" % (p["rps"], x["rps"], p["rps"] / x["rps"]))
print("bench http.cpu_per_request %.2f us vs nginx %.2f us ratio %.2f" % (p["cpu"], x["cpu"], x["cpu"] / p["cpu"]))
print("bench http.p50 %.3f ms vs nginx %.3f ms ratio %.2f" % (p["p50"], x["p50"], x["p50"] / p["p50"]))
print("bench http.p99 %.3f ms vs nginx %.3f ms ratio %.2f" % (p["p99"], x["p99"], x["p99"] / p["p99"]))
print("bench http.instrumentation_cpu %.2f us vs off %.2f us ratio %.2f" % (p["cpu"], off["cpu"], off["cpu"] / p["cpu"]))
EOF
