#!/usr/bin/env bash
# tests/cli/plugin_host.sh POTTER: the potter tool as a plugin host, against fake plugins.
#
# potter is copied into a temporary prefix (T/prefix/bin/potter) so that its libexec folder
# is T/prefix/libexec/potter, and runs under `env -i` with every lookup variable pointing
# into T: nothing from the machine's own PATH or home can leak into the results.
# Prints one line per failed check and a closing "N passed, M failed"; exits 1 on failure.
set -u

BUILT=${1:?usage: plugin_host.sh PATH-TO-BUILT-POTTER}
T=$(mktemp -d "${TMPDIR:-/tmp}/potter-cli-test.XXXXXX")
cleanup() {
  # Should a check fail, do not leave a "hanging plugin" behind either.
  for f in "$T"/*.pids; do
    [ -f "$f" ] && while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$f"
  done
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../checks.sh"
use_out_err
out_lacks() { ! grep -qF -- "$1" "$T/out"; }
err_lacks() { ! grep -qF -- "$1" "$T/err"; }
rc_is() { [ "$rc" -eq "$1" ]; }
# Line number of the first stdout line matching a fixed string (0 if none).
line_of() { grep -nF -- "$1" "$T/out" | head -1 | cut -d: -f1 | grep . || echo 0; }

# ---- a hermetic world ---------------------------------------------------------------------
PREFIX=$T/prefix
LIBEXEC=$PREFIX/libexec/potter
PP1=$T/pp1
PP2=$T/pp2
XDG=$T/xdg
USERDIR=$XDG/potter/plugins
PATHDIR=$T/path
SYSBIN=$T/sysbin # the few tools the fake plugins use, and nothing named potter-*
mkdir -p "$PREFIX/bin" "$LIBEXEC" "$PP1" "$PP2" "$PATHDIR" "$SYSBIN" "$T/home" "$T/src" "$T/bad"
cp "$BUILT" "$PREFIX/bin/potter"
POTTER=$PREFIX/bin/potter
for tool in bash sleep head tr cat; do
  ln -s "$(command -v "$tool")" "$SYSBIN/$tool"
done

PLUGIN_PATH="$PP1:$PP2"
SEARCH_PATH="$PATHDIR:$SYSBIN"
DATA_HOME=$XDG
# run ARGS...: potter with stdout, stderr and status in T/out, T/err and $rc.
run() {
  env -i HOME="$T/home" XDG_DATA_HOME="$DATA_HOME" POTTER_PLUGIN_PATH="$PLUGIN_PATH" \
    PATH="$SEARCH_PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
    ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} "$POTTER" "$@" <"${STDIN:-/dev/null}" \
    >"$T/out" 2>"$T/err"
  rc=$?
}

# plugin DIR NAME BODY: an executable bash script DIR/potter-NAME.
plugin() {
  printf '#!/bin/bash\n%s\n' "$3" >"$1/potter-$2"
  chmod 755 "$1/potter-$2"
}
# describing DIR NAME BODY: a plugin that describes itself properly, then runs BODY.
describing() {
  plugin "$1" "$2" "if [ \"\${1-}\" = --describe ]; then
  echo '{\"name\": \"$2\", \"summary\": \"Summary of $2\", \"usage\": \"usage: potter $2 [--x]\\\\n\\\\nLong text of $2.\"}'
  exit 0
fi
$3"
}

# ---- version --------------------------------------------------------------------------------
run version
check "version: exit 0" rc_is 0
check "version: prints potter version X.Y.Z" grep -qE '^potter version [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
run --version
check "--version: same output" grep -qE '^potter version [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"

# ---- the help page --------------------------------------------------------------------------
describing "$PP1" hello 'echo "hello from pp1"'
run help
check "help: exit 0" rc_is 0
check "help: lists built-in help" out_has "  help "
check "help: lists built-in plugin" out_has "  plugin "
check "help: lists built-in version" out_has "  version "
check "help: lists the plugin with its summary" grep -qE '^  hello +Summary of hello$' "$T/out"
check "help: built-ins come before plugins" [ "$(line_of "  version ")" -lt "$(line_of "  hello ")" ]
check "help: no warnings for good plugins" [ ! -s "$T/err" ]
cp "$T/out" "$T/help_page"
run
check "no arguments: exit 1 (usage error, as git)" rc_is 1
check "no arguments: prints the help page" cmp -s "$T/out" "$T/help_page"
run --help
check "--help: exit 0 and the help page" eval 'rc_is 0 && cmp -s "$T/out" "$T/help_page"'
run help hello
check "help NAME: exit 0" rc_is 0
check "help NAME: shows the usage" out_has "usage: potter hello [--x]"
check "help NAME: keeps the usage's lines" out_has "Long text of hello."
run help plugin
check "help plugin: built-in usage" eval 'rc_is 0 && out_has "potter plugin install [--force]"'
run help nosuch
check "help NAME for an unknown name: exit 1" rc_is 1
check "help NAME for an unknown name: says so" err_has "potter: 'nosuch' is not a potter command."

# ---- running plugins: arguments, status, signals, stdin -------------------------------------
plugin "$PP1" args "for a in \"\$@\"; do printf '<%s>\\n' \"\$a\"; done; exit 0"
run args "a b" "" "  two  spaces " '$HOME' "*" "--describe"
check "args: exit 0" rc_is 0
printf '<a b>\n<>\n<  two  spaces >\n<$HOME>\n<*>\n<--describe>\n' >"$T/want"
check "args: arrive intact, in order" cmp -s "$T/out" "$T/want"
plugin "$PP1" seven 'echo out; echo err >&2; exit 7'
run seven
check "exit status passes through (7)" rc_is 7
check "plugin stdout passes through" out_has "out"
check "plugin stderr passes through" err_has "err"
plugin "$PP1" killself 'kill -TERM $$; sleep 5'
{ run killself; } 2>/dev/null # bash would report the "Terminated"
check "death by signal passes through (143 = 128 + SIGTERM)" rc_is 143
plugin "$PP1" mypid 'echo $$'
run_bg() {
  env -i PATH="$SEARCH_PATH" POTTER_PLUGIN_PATH="$PLUGIN_PATH" "$POTTER" "$@" >"$T/out" 2>"$T/err" &
  bg_pid=$!
  wait "$bg_pid"
  rc=$?
}
run_bg mypid
check "the plugin replaces potter (exec: same pid)" eval 'rc_is 0 && [ "$(cat "$T/out")" = "$bg_pid" ]'
plugin "$PP1" cat 'exec cat'
echo "from stdin" >"$T/stdin"
STDIN=$T/stdin run cat
STDIN=
check "stdin passes through" eval 'rc_is 0 && out_has "from stdin"'

# ---- unknown commands -----------------------------------------------------------------------
run nosuch
check "unknown command: exit 1" rc_is 1
check "unknown command: git-style message" err_has "potter: 'nosuch' is not a potter command."
check "unknown command: lists the commands" eval 'err_has "help" && err_has "hello"'
check "unknown command: nothing on stdout" [ ! -s "$T/out" ]
run helo
check "close name: suggests hello" grep -qP '^\thello$' "$T/err"
check "close name: suggests help" grep -qP '^\thelp$' "$T/err"
run --frobnicate
check "unknown option: exit 1 and message" eval 'rc_is 1 && err_has "unknown option '"'"'--frobnicate'"'"'"'
run ../pp1/potter-hello
check "a name with a slash is not a command" eval 'rc_is 1 && err_has "is not a potter command"'

# ---- lookup order: libexec < POTTER_PLUGIN_PATH < user folder < PATH ------------------------
mkdir -p "$USERDIR"
plugin "$LIBEXEC" order 'echo libexec'
plugin "$PP1" order 'echo pp1'
plugin "$PP2" order 'echo pp2'
plugin "$USERDIR" order 'echo user'
plugin "$PATHDIR" order 'echo PATH'
run order
check "order: libexec first" eval 'rc_is 0 && [ "$(cat "$T/out")" = libexec ]'
rm "$LIBEXEC/potter-order"
run order
check "order: then POTTER_PLUGIN_PATH, first folder first" eval '[ "$(cat "$T/out")" = pp1 ]'
rm "$PP1/potter-order"
run order
check "order: then the second POTTER_PLUGIN_PATH folder" eval '[ "$(cat "$T/out")" = pp2 ]'
rm "$PP2/potter-order"
run order
check "order: then the user folder" eval '[ "$(cat "$T/out")" = user ]'
rm "$USERDIR/potter-order"
run order
check "order: then PATH" eval '[ "$(cat "$T/out")" = PATH ]'
rm "$PATHDIR/potter-order"
DATA_HOME=
plugin "$T/home" dummy 'true' # HOME itself is not a plugin folder
mkdir -p "$T/home/.local/share/potter/plugins"
plugin "$T/home/.local/share/potter/plugins" homeuser 'echo from-home'
run homeuser
check "user folder defaults to ~/.local/share/potter/plugins" eval 'rc_is 0 && out_has from-home'
DATA_HOME=$XDG

run plugin dirs
check "plugin dirs: exit 0" rc_is 0
printf '%s\n' "libexec $LIBEXEC" "POTTER_PLUGIN_PATH $PP1" "POTTER_PLUGIN_PATH $PP2" \
  "user $USERDIR" "PATH $PATHDIR" "PATH $SYSBIN" >"$T/want"
check "plugin dirs: folders in lookup order" eval \
  'diff <(sed "s/  */ /g" "$T/out") "$T/want" >/dev/null'
# The build tree: build/cli/potter finds build/libexec/potter.
env -i PATH=/usr/bin:/bin "$BUILT" plugin dirs >"$T/out" 2>"$T/err"
rc=$?
want=$(cd "$(dirname "$BUILT")/../libexec/potter" && pwd -P)
check "build tree: the built potter's libexec is build/libexec/potter" \
  eval '[ "$(head -1 "$T/out" | sed "s/  */ /g")" = "libexec $want" ]'

# ---- shadowing, non-executables, built-in names ---------------------------------------------
plugin "$PP1" dup 'echo first'
plugin "$PATHDIR" dup 'echo second'
run dup
check "shadowing: the first found runs" eval 'rc_is 0 && [ "$(cat "$T/out")" = first ]'
run plugin list
check "plugin list: exit 0" rc_is 0
check "plugin list: header" out_has "NAME"
check "plugin list: shows the winner and its source" \
  grep -qE "^dup +POTTER_PLUGIN_PATH +$PP1/potter-dup\$" "$T/out"
check "plugin list: shows the shadowed one, marked" \
  grep -qE "^dup +PATH +$PATHDIR/potter-dup +\(shadowed\)\$" "$T/out"
check "plugin list: libexec/user sources named" eval \
  'plugin "$LIBEXEC" lx true; plugin "$USERDIR" us true; run plugin list;
   grep -qE "^lx +libexec +$LIBEXEC/potter-lx\$" "$T/out" &&
   grep -qE "^us +user +$USERDIR/potter-us\$" "$T/out"'
check "plugin list: warns about the shadowing, naming both paths" \
  err_has "warning: $PATHDIR/potter-dup is shadowed by $PP1/potter-dup"
printf '#!/bin/bash\necho never\n' >"$PP1/potter-noexec"
chmod 644 "$PP1/potter-noexec"
run plugin list
check "plugin list: a non-executable is marked" grep -qE "^noexec .*\(not executable\)\$" "$T/out"
check "plugin list: and warned about" err_has "$PP1/potter-noexec is not executable"
run noexec
check "a non-executable potter-NAME is not run" eval 'rc_is 1 && out_lacks never'
plugin "$PATHDIR" noexec 'echo later'
run noexec
check "a non-executable is skipped for a later executable" eval 'rc_is 0 && out_has later'
plugin "$PATHDIR" version 'echo impostor'
run version
check "a built-in beats a plugin of its name" eval 'out_has "potter version" && out_lacks impostor'
run plugin list
check "plugin list: warns about a plugin shadowed by a built-in" \
  err_has "$PATHDIR/potter-version is shadowed by the built-in command 'version'"
rm "$PATHDIR/potter-version" "$PATHDIR/potter-noexec" "$PP1/potter-noexec"
PLUGIN_PATH="$PP1:$PP2:$PATHDIR"
run plugin list
check "a folder on POTTER_PLUGIN_PATH and PATH does not shadow itself" \
  eval 'rc_is 0 && [ "$(grep -c "^dup " "$T/out")" -eq 2 ] && err_lacks "potter-dup is shadowed by $PATHDIR"'
PLUGIN_PATH="$PP1:$PP2"
rm "$PATHDIR/potter-dup"

# ---- misbehaving plugins: help must survive them, quickly ----------------------------------
BAD=$T/bad
plugin "$BAD" fails 'echo "boom: cannot describe" >&2; exit 3'
plugin "$BAD" hangs "if [ \"\${1-}\" = --describe ]; then
  echo \$\$ >>'$T/hangs.pids'
  sleep 100 &
  echo \$! >>'$T/hangs.pids'
  wait
fi"
plugin "$BAD" lingers "if [ \"\${1-}\" = --describe ]; then
  exec >&- 2>&-
  echo \$\$ >>'$T/lingers.pids'
  sleep 100 &
  echo \$! >>'$T/lingers.pids'
  wait
fi"
plugin "$BAD" verbose "head -c 70000 /dev/zero | tr '\\\\0' a"
plugin "$BAD" flood 'while :; do echo "{\"name\": \"flood\"}"; done'
plugin "$BAD" badjson "echo '{\"name\": \"badjson\", \"summary\": oops}'"
plugin "$BAD" nousage "echo '{\"name\": \"nousage\", \"summary\": \"s\"}'"
plugin "$BAD" notstring "echo '{\"name\": \"notstring\", \"summary\": 5, \"usage\": \"u\"}'"
plugin "$BAD" array "echo '[1, 2]'"
plugin "$BAD" silent 'exit 0'
plugin "$BAD" othername "echo '{\"name\": \"else\", \"summary\": \"Named else\", \"usage\": \"u\"}'"
printf '\177ELF not really' >"$BAD/potter-garbage"
chmod 755 "$BAD/potter-garbage"
describing "$BAD" fine 'true'
PLUGIN_PATH=$BAD
start=$(date +%s%N)
run help
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "bad plugins: help still exits 0" rc_is 0
check "bad plugins: help finishes in < 5 s (took ${elapsed_ms} ms)" [ "$elapsed_ms" -lt 5000 ]
check "bad plugins: the good one is still described" grep -qE '^  fine +Summary of fine$' "$T/out"
for name in fails hangs lingers verbose flood badjson nousage notstring array silent garbage; do
  check "bad plugins: $name is listed" grep -qE "^  $name +\(no description" "$T/out"
done
check "failing: path, status and its stderr" \
  err_has "warning: $BAD/potter-fails: --describe exited with status 3: boom: cannot describe"
check "hanging: path and timeout" err_has "$BAD/potter-hangs: --describe did not finish within 2 s; killed it"
check "closed output but lingering: timeout" err_has "$BAD/potter-lingers: --describe did not finish within 2 s"
check "too verbose: path and limit" err_has "$BAD/potter-verbose: --describe printed more than 64 KiB"
check "endless output: limit" err_has "$BAD/potter-flood: --describe printed more than 64 KiB"
check "bad JSON: path and position" err_has "$BAD/potter-badjson: --describe printed invalid JSON (line 1, column"
check "missing field: names it" err_has "$BAD/potter-nousage: --describe JSON lacks the \"usage\" field"
check "wrong type: names it" err_has "$BAD/potter-notstring: --describe JSON field \"summary\" is not a string"
check "not an object" err_has "$BAD/potter-array: --describe printed JSON that is not an object"
check "no output" err_has "$BAD/potter-silent: --describe printed nothing"
check "not runnable: exec error" err_has "$BAD/potter-garbage: --describe exited with status 127: cannot run it"
check "a different name: shown, with a warning" eval \
  'grep -qE "^  othername +Named else\$" "$T/out" && err_has "$BAD/potter-othername: --describe says its name is \"else\""'
# Killed with their process groups and reaped: no plugin process (nor its sleep) survives.
gone() {
  local pid=$1 i state
  for i in $(seq 100); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
    [ "$state" = Z ] && return 0 # dead; only its new parent has yet to reap it
    sleep 0.02
  done
  return 1
}
check "hanging: its pids were recorded" [ "$(wc -l <"$T/hangs.pids")" -eq 2 ]
while read -r pid; do
  check "hanging: process $pid is gone" gone "$pid"
done <"$T/hangs.pids"
while read -r pid; do
  check "lingering: process $pid is gone" gone "$pid"
done <"$T/lingers.pids"
mv "$T/hangs.pids" "$T/hangs-first.pids" # still killed by cleanup, should a check fail
start=$(date +%s%N)
run help hangs
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "help NAME on a hanging plugin: exit 1 within 5 s (${elapsed_ms} ms)" \
  eval 'rc_is 1 && [ "$elapsed_ms" -lt 5000 ]'
check "help NAME on a hanging plugin: says why" err_has "cannot show help for 'hangs': $BAD/potter-hangs: --describe did not finish"
while read -r pid; do
  check "help NAME: hanging process $pid is gone" gone "$pid"
done <"$T/hangs.pids"
# potter killed while a describe hangs: it takes the plugin's process group with it.
mv "$T/hangs.pids" "$T/hangs-help.pids"
rm -f "$T/hangs.pids"
PATH="$SEARCH_PATH" POTTER_PLUGIN_PATH=$BAD "$POTTER" help hangs >"$T/out" 2>"$T/err" &
potter_pid=$!
for i in $(seq 250); do
  [ -f "$T/hangs.pids" ] && [ "$(wc -l <"$T/hangs.pids")" -eq 2 ] && break
  sleep 0.02
done
kill -TERM "$potter_pid"
wait "$potter_pid"
rc=$?
check "killed potter: dies of the signal (143)" rc_is 143
while read -r pid; do
  check "killed potter: hanging process $pid is gone" gone "$pid"
done <"$T/hangs.pids"
PLUGIN_PATH="$PP1:$PP2"

# ---- plugin install ---------------------------------------------------------------------------
rm -rf "$XDG"
describing "$T/src" inst 'echo "installed v1: $*"'
chmod 700 "$T/src/potter-inst"
run plugin install "$T/src/potter-inst"
check "install: exit 0" rc_is 0
check "install: says where" out_has "Installed $USERDIR/potter-inst"
check "install: creates the user folder" [ -d "$USERDIR" ]
check "install: the copy is mode 0755" [ "$(stat -c %a "$USERDIR/potter-inst")" = 755 ]
check "install: leaves no temporary file" [ "$(ls -A "$USERDIR")" = potter-inst ]
run inst a "b c"
check "install: then runnable" eval 'rc_is 0 && out_has "installed v1: a b c"'
describing "$T/src" inst 'echo "installed v2"'
run plugin install "$T/src/potter-inst"
check "install again: refused without --force" eval 'rc_is 1 && err_has "already installed; use --force"'
run inst
check "install again: the old copy stays" out_has "installed v1"
run plugin install --force "$T/src/potter-inst"
check "install --force: exit 0" rc_is 0
run inst
check "install --force: replaced" out_has "installed v2"
check "install --force: leaves no temporary file" [ "$(ls -A "$USERDIR")" = potter-inst ]
printf '#!/bin/bash\necho hi\n' >"$T/src/potter-plain"
chmod 644 "$T/src/potter-plain"
run plugin install "$T/src/potter-plain"
check "install: refuses a non-executable" eval 'rc_is 1 && err_has "not executable"'
check "install: nothing installed then" [ ! -e "$USERDIR/potter-plain" ]
describing "$T/src" tool.sh 'true'
mv "$T/src/potter-tool.sh" "$T/src/tool.sh"
run plugin install "$T/src/tool.sh"
check "install: refuses a name not potter-*" eval 'rc_is 1 && err_has "must be potter-<name>" && [ ! -e "$USERDIR/tool.sh" ]'
run plugin install "$T/src/missing"
check "install: a missing file is an error naming it" eval 'rc_is 1 && err_has "$T/src/missing"'
describing "$T/src" help 'true'
run plugin install "$T/src/potter-help"
check "install: refuses a built-in's name" eval 'rc_is 1 && err_has "built-in"'
run plugin install --bogus "$T/src/potter-inst"
check "install: unknown option" eval 'rc_is 1 && err_has "unknown option '"'"'--bogus'"'"'"'
describing "$PP1" early 'echo pp1'
describing "$T/src" early 'echo user'
run plugin install "$T/src/potter-early"
check "install: warns when an earlier plugin shadows the new one" \
  eval 'rc_is 0 && err_has "'"'"'potter early'"'"' will still run $PP1/potter-early"'
plugin "$T/src" nodesc 'exit 2'
run plugin install "$T/src/potter-nodesc"
check "install: warns when --describe fails" eval 'rc_is 0 && err_has "$USERDIR/potter-nodesc: --describe exited with status 2"'
run plugin
check "plugin without a subcommand: exit 1" eval 'rc_is 1 && err_has "usage: potter plugin"'
run plugin frob
check "plugin frob: exit 1" eval 'rc_is 1 && err_has "'"'"'frob'"'"' is not a plugin subcommand"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
