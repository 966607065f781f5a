#!/usr/bin/env python3
"""Reads potter's log records with the real bunyan CLI (tests/peers, bunyan 2.0.5).

usage: check_bunyan.py SAMPLE_PROGRAM [BUNYAN]

Runs SAMPLE_PROGRAM (tests/integration/bunyan/bunyan_sample.c) to write a log file, then:
  - every line is strict JSON (no NaN/Infinity tokens, no duplicate keys) and valid UTF-8;
  - `bunyan --strict -0` (bunyan's own one-line JSON) keeps every record, unchanged;
  - `bunyan --strict -0 -l warn` keeps exactly the records at warn and above;
  - `bunyan -o long` (the default human output) runs without error and shows every record.
BUNYAN defaults to $PT_SOURCE_DIR/tests/peers/node_modules/.bin/bunyan.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


problems = []


def fail(msg):
    """A problem that stops the check."""
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def problem(msg):
    """A problem reported at the end; the other checks go on."""
    print("FAIL: " + msg, file=sys.stderr)
    problems.append(msg)


def reject_constant(name):
    raise ValueError("non-standard JSON token " + name)


def no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError("duplicate key " + repr(k))
        seen[k] = v
    return seen


def strict_loads(text):
    return json.loads(text, parse_constant=reject_constant, object_pairs_hook=no_duplicates)


def run(cmd, stdin_path=None, timeout=60):
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        return subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout,
                              env=dict(os.environ, BUNYAN_NO_COLOR="1", BUNYAN_NO_PAGER="1"))
    finally:
        if stdin_path:
            stdin.close()


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    sample = sys.argv[1]
    if len(sys.argv) > 2:
        bunyan = sys.argv[2]
    else:
        src = os.environ.get("PT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "../../..")
        bunyan = os.path.join(src, "tests/peers/node_modules/.bin/bunyan")
    if not os.access(bunyan, os.X_OK):
        fail("bunyan not found at %s: run scripts/deps.sh (make deps)" % bunyan)
    version = run([bunyan, "--version"]).stdout.decode().strip()
    if version != "bunyan 2.0.5":
        fail("expected bunyan 2.0.5, found %r" % version)

    tmp = tempfile.mkdtemp(prefix="pt-bunyan-")
    try:
        path = os.path.join(tmp, "sample.log")
        p = run([sample, path])
        if p.returncode != 0:
            fail("sample program failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
        logged = int(p.stdout.decode().strip())

        raw = open(path, "rb").read()
        if not raw.endswith(b"\n"):
            fail("the file does not end with a newline")
        # Bad lines are reported; bunyan --strict skips them as well, so the comparison
        # below still covers every good one.
        records = []
        for i, line in enumerate(raw.split(b"\n")[:-1], 1):
            try:
                text = line.decode("utf-8", errors="strict")
                rec = strict_loads(text)
            except ValueError as e:
                problem("line %d is not strict JSON in UTF-8 (%s): %r" % (i, e, line[:300]))
                continue
            if not isinstance(rec, dict):
                problem("line %d is not an object" % i)
                continue
            missing = [k for k in ("v", "level", "name", "hostname", "pid", "time", "msg")
                       if k not in rec]
            if missing:
                problem("line %d has no %s" % (i, ", ".join(missing)))
                continue
            records.append(rec)
        if len(records) != logged:
            problem("the file has %d good records, the program logged %d" % (len(records), logged))

        # bunyan's own JSON: every record survives, unchanged.
        p = run([bunyan, "--strict", "-0", path])
        if p.returncode != 0 or p.stderr:
            fail("bunyan --strict -0 failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
        out = [json.loads(l) for l in p.stdout.decode("utf-8").split("\n") if l]
        if len(out) != len(records):
            fail("bunyan --strict kept %d of %d records" % (len(out), len(records)))
        for i, (a, b) in enumerate(zip(records, out), 1):
            if a != b:
                diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
                problem("record %d changed through bunyan: %r" % (i, diff))

        # The same from stdin, as in `tail -f x.log | bunyan`.
        p = run([bunyan, "--strict", "-0"], stdin_path=path)
        if p.returncode != 0 or len([l for l in p.stdout.splitlines() if l]) != len(records):
            fail("bunyan --strict -0 from stdin failed")

        # Level filtering sees numeric levels.
        p = run([bunyan, "--strict", "-0", "-l", "warn", path])
        want = sum(1 for r in records if r["level"] >= 40)
        got = len([l for l in p.stdout.splitlines() if l])
        if p.returncode != 0 or got != want:
            fail("bunyan -l warn printed %d records, expected %d" % (got, want))

        # The default human output.
        p = run([bunyan, "--no-color", "-o", "long", path])
        if p.returncode != 0 or p.stderr:
            fail("bunyan -o long failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
        long_out = p.stdout.decode("utf-8")
        for i, r in enumerate(records, 1):
            if "[%s]" % r["time"] not in long_out:
                fail("bunyan -o long does not show record %d (time %s)" % (i, r["time"]))
        names = ["TRACE", "DEBUG", " INFO", " WARN", "ERROR", "FATAL"]
        for n in names:
            if n + ": bunyan-sample/" not in long_out:
                fail("bunyan -o long shows no %s record" % n.strip())
        raw_lines = [l for l in long_out.split("\n") if l.startswith('{"v":')]
        if raw_lines:
            problem("bunyan -o long passed %d line(s) through raw (not bunyan records to it): %r"
                    % (len(raw_lines), raw_lines[0][:200]))
        if problems:
            fail("%d problem(s), listed above" % len(problems))
        print("ok: %d records through bunyan 2.0.5 (-0, -l warn, -o long)" % len(records))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
