# What the shell benchmarks share; each sources it: . "$(dirname "$0")/lib.sh"

# bench_need NAME TOOL...: exits 1, naming the first TOOL that is not on PATH.
bench_need() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "$name: $tool not found (scripts/deps.sh installs it)" >&2
      exit 1
    }
  done
}

# bench_free_port: a port on 127.0.0.1 that nobody listens on.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
