#!/usr/bin/env bash
# Installs a build into a scratch DESTDIR, then builds and runs programs against the installed
# files only, as a user would: with pkg-config (C and C++) and with find_package(potter)
# (shared and static). Also checks what libpotter.so exports and its SONAME.
#
#   consumer_test.sh BUILD_DIR [CC] [CXX] [CMAKE]
set -euo pipefail

build=$(cd "$1" && pwd)
cc=${2:-cc}
cxx=${3:-c++}
cmake=${4:-cmake}
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/potter-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
prefix=/usr/local
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Runs a program; its stdout must name the version and say the headers match, and its
# stderr must hold the log record as JSON.
check_run() {
  local what=$1 exe=$2 out err
  out=$tmp/$what.out
  err=$tmp/$what.err
  if ! "$exe" >"$out" 2>"$err"; then
    fail "$what: exited with $? (stdout: $(cat "$out"); stderr: $(cat "$err"))"
    return
  fi
  grep -q "^potter $version headers-match\$" "$out" || fail "$what: stdout was: $(cat "$out")"
  grep -q '"msg":"hello"' "$err" && grep -q '"n":1' "$err" && grep -q '"level":30' "$err" ||
    fail "$what: no log record on stderr, got: $(cat "$err")"
  echo "ok: $what"
}

DESTDIR=$stage "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log"

pc=$(find "$stage" -name potter.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || { echo "FAIL: no potter.pc installed" >&2; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
version=$(sed -n 's/^Version: //p' "$pc")
[ -f "$stage$prefix/include/potter.h" ] || fail "include/potter.h not installed"
[ -f "$libdir/libpotter.a" ] || fail "libpotter.a not installed"

# ---- the shared library's shape ------------------------------------------------------------
so=$(readlink -f "$libdir/libpotter.so")
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libpotter.so.0.1" ] || fail "SONAME is '$soname', expected libpotter.so.0.1"
[ -e "$libdir/libpotter.so.0.1" ] || fail "no libpotter.so.0.1 link"
foreign=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^pt_' || true)
[ -z "$foreign" ] || fail "libpotter.so exports symbols without the pt_ prefix: $(echo $foreign)"
echo "ok: SONAME $soname, $(nm -D --defined-only "$so" | wc -l) exported symbols, all pt_"
# A static link puts every global name of the archive into the user's program.
# Exception: _.stapsdt.base, which every object with a USDT probe defines (sys/sdt.h: hidden,
# one per program, the same in every library that has probes).
foreign=$(nm -g --defined-only "$libdir/libpotter.a" | awk 'NF == 3 {print $3}' |
  grep -v -e '^pt_' -e '^_\.stapsdt\.base$' | sort -u || true)
[ -z "$foreign" ] || fail "libpotter.a defines global names without the pt_ prefix: $(echo $foreign)"

# ---- pkg-config ----------------------------------------------------------------------------
export PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_SYSROOT_DIR=$stage
flags=$(pkg-config --cflags --libs potter)
rpath=-Wl,-rpath,$libdir
"$cc" -Wall -Wextra -Werror -o "$tmp/app_c" "$here/app.c" $flags "$rpath"
check_run pkg-config-c "$tmp/app_c"
"$cxx" -Wall -Wextra -Werror -o "$tmp/app_cxx" "$here/app.cpp" $flags "$rpath"
check_run pkg-config-c++ "$tmp/app_cxx"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# ---- find_package(potter) ------------------------------------------------------------------
if ! "$cmake" -S "$here/project" -B "$tmp/project" -DCMAKE_PREFIX_PATH="$stage$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >"$tmp/project.log" 2>&1 ||
  ! "$cmake" --build "$tmp/project" >>"$tmp/project.log" 2>&1; then
  cat "$tmp/project.log" >&2
  fail "the find_package(potter) project did not build"
else
  check_run cmake-shared "$tmp/project/app_shared"
  check_run cmake-c++ "$tmp/project/app_cxx"
  check_run cmake-static "$tmp/project/app_static"
  # the static program must not need libpotter.so at run time
  if readelf -d "$tmp/project/app_static" | grep -q 'libpotter\.so'; then
    fail "app_static depends on libpotter.so"
  fi
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all consumer checks passed"
