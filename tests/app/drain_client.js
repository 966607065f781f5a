// tests/app/drain_client.js: the load and the record of tests/app/drain.sh.
//
//   node drain_client.js load PORT PID OUT [CONNS [LOAD_MS [WAIT_MS]]]
//     Opens CONNS keep-alive connections to 127.0.0.1:PORT, each sending one request after the
//     other (GET /quote, every fifth GET /hello; each with its own X-Request-Id), and records
//     the outcome of every request. After LOAD_MS it sends SIGTERM to PID, writes the time it
//     did to OUT.sigterm, and goes on sending on every connection until the connection's
//     response says Connection: close (then it waits for the server to close it). From 100 ms
//     after the signal it tries five new connections, 100 ms apart, each bounded by 1 s. It
//     writes the record to OUT (JSON) once every connection is closed, or WAIT_MS after the
//     signal at the latest.
//
//   node drain_client.js summary OUT LOG
//     Sets the record beside the server's log (bunyan records; the access records are
//     msg "request") and prints name=value lines for the shell to check, and the requests that
//     break a rule on stderr.
//
// Two more connections send half a request before the signal and the rest 50 ms after it.
//
// A request's outcome: "complete" (status, headers and the whole Content-Length body), "none"
// (the connection closed or was reset before any byte of the response), "partial" (it closed
// in the middle of the response).
'use strict';
const net = require('net');
const fs = require('fs');

function load(port, pid, out, nconns, loadMs, waitMs) {
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const requests = [];
  const probes = [];
  let sigtermAt = null;
  let open = 0;
  let finished = false;

  function connection(ci) {
    const sock = net.connect(port, '127.0.0.1');
    let n = 0;
    let cur = null; // the request waiting for its response
    let buf = Buffer.alloc(0);
    let closing = false; // the server said Connection: close
    let ended = false;
    open++;
    sock.setNoDelay(true);

    function send() {
      if (closing || ended || finished)
        return;
      const path = n % 5 === 4 ? '/hello' : '/quote';
      cur = {id: `d-${ci}-${n}`, conn: ci, path, sent_at: now(), outcome: null, got: 0};
      n++;
      requests.push(cur);
      sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Request-Id: ${cur.id}\r\n\r\n`);
    }

    // Parses as much of buf as makes whole responses.
    function parse() {
      while (cur && !cur.outcome) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0)
          return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(head[0]);
        const headers = {};
        for (const h of head.slice(1)) {
          const i = h.indexOf(':');
          headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        }
        const len = Number(headers['content-length'] || 0);
        if (buf.length < end + 4 + len)
          return;
        cur.outcome = m ? 'complete' : 'garbled';
        cur.status = m ? Number(m[1]) : 0;
        cur.close = /close/i.test(headers.connection || '');
        cur.id_echoed = headers['x-request-id'] === cur.id;
        cur.body_len = len;
        cur.done_at = now();
        buf = buf.subarray(end + 4 + len);
        if (cur.close)
          closing = true;
        cur = null;
        if (buf.length)
          return; // bytes nobody asked for: left in buf, reported at close
        send();
      }
    }

    sock.on('connect', send);
    sock.on('data', (d) => {
      if (cur)
        cur.got += d.length;
      buf = Buffer.concat([buf, d]);
      parse();
    });
    sock.on('error', (e) => {
      if (cur && !cur.outcome)
        cur.err = e.code;
      else if (!cur)
        sock.idle_err = e.code;
    });
    sock.on('close', () => {
      if (ended)
        return;
      ended = true;
      open--;
      if (cur && !cur.outcome) {
        cur.outcome = cur.got ? 'partial' : 'none';
        cur.done_at = now();
      }
      if (buf.length)
        requests.push({id: `d-${ci}-extra`, conn: ci, outcome: 'unasked', got: buf.length});
      conns[ci].closed_at = now();
      conns[ci].after_close_hdr = closing;
      maybeDone();
    });
    return {sock};
  }

  function probe(i) {
    const p = {at: now(), outcome: null};
    probes.push(p);
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      p.outcome = 'timeout';
      s.destroy();
    }, 1000);
    s.on('connect', () => {
      p.outcome = 'connected';
      s.write(`GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: probe-${i}\r\n\r\n`);
    });
    s.on('data', (d) => { p.got = (p.got || '') + d.toString('latin1'); });
    s.on('error', (e) => { p.err = e.code; if (p.outcome === null) p.outcome = e.code === 'ECONNREFUSED' ? 'refused' : 'error'; });
    s.on('close', () => { clearTimeout(timer); p.ms = now() - p.at; });
  }

  function write() {
    if (finished)
      return;
    finished = true;
    for (const c of conns.concat(halves))
      if (c.sock)
        c.sock.destroy();
    const record = {sigterm_at: sigtermAt, ended_at: now(), open_at_end: open, requests, probes,
      conns: conns.map((c) => ({closed_at: c.closed_at, after_close_hdr: c.after_close_hdr}))};
    fs.writeFileSync(out, JSON.stringify(record));
    process.exit(0);
  }

  function maybeDone() {
    // Every connection closed and every probe settled (each within 1 s).
    if (sigtermAt !== null && open === 0 && probes.length === 5 && probes.every((p) => p.ms !== undefined))
      setTimeout(write, 50);
  }

  // A request half sent when the signal comes, its end 50 ms after: the server has read part
  // of it, so it owes it an answer.
  function half(k) {
    const r = {id: `d-half-${k}`, conn: `half-${k}`, path: '/hello', outcome: null, got: 0};
    let buf = '';
    const sock = net.connect(port, '127.0.0.1', () => {
      r.sent_at = now();
      requests.push(r);
      sock.write(`GET /hello HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Request-Id: ${r.id}\r\n`);
    });
    open++;
    sock.on('data', (d) => {
      r.got += d.length;
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(buf);
      if (end >= 0 && len && buf.length >= end + 4 + Number(len[1]) && !r.outcome) {
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(buf);
        r.outcome = m ? 'complete' : 'garbled';
        r.status = m ? Number(m[1]) : 0;
        r.close = /\r\nconnection: *close/i.test(buf.slice(0, end));
        r.id_echoed = new RegExp(`\r\nx-request-id: ${r.id}\r\n`, 'i').test(buf.slice(0, end + 2));
        r.done_at = now();
      }
    });
    sock.on('error', (e) => { r.err = e.code; });
    sock.on('close', () => {
      open--;
      if (!r.outcome) {
        r.outcome = r.got ? 'partial' : 'none';
        r.done_at = now();
      }
      maybeDone();
    });
    return {sock, finish: () => sock.write('\r\n')};
  }

  // The connections start spread over one dependency latency (200 ms): when the signal comes,
  // requests are at every stage of their wait.
  const conns = [];
  for (let i = 0; i < nconns; i++) {
    conns.push({sock: null});
    setTimeout(() => { Object.assign(conns[i], connection(i)); }, Math.floor((200 * i) / nconns));
  }
  const halves = [half(0), half(1)];
  setTimeout(() => {
    sigtermAt = now();
    fs.writeFileSync(out + '.sigterm', String(t0 + sigtermAt));
    process.kill(pid, 'SIGTERM');
    setTimeout(() => halves.forEach((h) => h.finish()), 50);
    for (let i = 0; i < 5; i++)
      setTimeout(() => probe(i), 100 * (i + 1));
    setInterval(maybeDone, 50);
    setTimeout(write, waitMs);
  }, loadMs);
}

function summary(out, logFile) {
  const rec = JSON.parse(fs.readFileSync(out, 'utf8'));
  const log = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const access = new Map();
  for (const r of log)
    if (r.msg === 'request' && typeof r.req_id === 'string' && r.req_id.startsWith('d-'))
      access.set(r.req_id, r);
  const reqs = rec.requests.filter((r) => r.outcome !== 'unasked');
  const by = (f) => reqs.filter(f);
  const complain = (what, list) => {
    for (const r of list.slice(0, 10))
      process.stderr.write(`${what}: ${JSON.stringify(r)} log: ${JSON.stringify(access.get(r.id) || null)}\n`);
  };
  const v = {};
  v.requests = reqs.length;
  v.before_sigterm = by((r) => r.done_at !== undefined && r.done_at < rec.sigterm_at).length;
  const failedBefore = by((r) => r.sent_at < rec.sigterm_at && r.done_at < rec.sigterm_at &&
    !(r.outcome === 'complete' && r.status >= 200 && r.status < 300));
  v.failed_before_sigterm = failedBefore.length;
  complain('failed before SIGTERM', failedBefore);
  v.complete = by((r) => r.outcome === 'complete').length;
  v.none = by((r) => r.outcome === 'none').length;
  const partial = by((r) => r.outcome === 'partial' || r.outcome === 'garbled' || r.outcome === null);
  v.partial = partial.length;
  complain('partial', partial);
  v.unasked = rec.requests.length - reqs.length;
  const notEchoed = by((r) => r.outcome === 'complete' && !r.id_echoed);
  v.id_not_echoed = notEchoed.length;
  complain('id not echoed', notEchoed);
  // Every request the server read (it logged it) was answered 2xx, completely, as logged.
  const sent = new Map(reqs.map((r) => [r.id, r]));
  let loggedBad = 0;
  for (const [id, a] of access) {
    const r = sent.get(id);
    if (!r || r.outcome !== 'complete' || r.status < 200 || r.status > 299 || r.status !== a.res.statusCode) {
      loggedBad++;
      complain('logged but not answered 2xx', [r || {id}]);
    }
  }
  v.logged = access.size;
  v.logged_not_answered_2xx = loggedBad;
  // And every complete response is logged (the log was flushed at exit).
  const unlogged = by((r) => r.outcome === 'complete' && !access.has(r.id));
  v.answered_not_logged = unlogged.length;
  complain('answered but not logged', unlogged);
  const nonOk = by((r) => r.outcome === 'complete' && (r.status < 200 || r.status > 299));
  v.answered_not_2xx = nonOk.length;
  complain('answered, not 2xx', nonOk);
  v.close_hdr = by((r) => r.outcome === 'complete' && r.close).length;
  // After a response with Connection: close, nothing more is sent on that connection.
  const perConn = new Map();
  let sentAfterClose = 0;
  for (const r of reqs) {
    if (perConn.get(r.conn))
      sentAfterClose++;
    if (r.outcome === 'complete' && r.close)
      perConn.set(r.conn, true);
  }
  v.sent_after_close = sentAfterClose;
  v.half_answered = by((r) => String(r.id).startsWith('d-half-') && r.outcome === 'complete' &&
    r.status === 200 && r.close && r.id_echoed).length;
  complain('half-sent request', by((r) => String(r.id).startsWith('d-half-') && !(r.outcome === 'complete' && r.status === 200)));
  v.open_at_end = rec.open_at_end;
  // When the last request ended (answered or cut), after the signal.
  v.last_end_ms = Math.max(0, ...reqs.map((r) => (r.done_at === undefined ? 99999 : r.done_at) - rec.sigterm_at));
  // Connections the server closed before SIGTERM (none should be).
  v.closed_before_sigterm = rec.conns.filter((c) => c.closed_at !== undefined && c.closed_at < rec.sigterm_at).length;
  v.probes = rec.probes.length;
  v.probes_refused = rec.probes.filter((p) => p.outcome === 'refused').length;
  v.first_probe_ms = rec.probes.length ? rec.probes[0].at - rec.sigterm_at : -1;
  v.probe_max_ms = Math.max(...rec.probes.map((p) => p.ms === undefined ? 99999 : p.ms));
  for (const p of rec.probes.filter((p) => p.outcome !== 'refused'))
    process.stderr.write(`probe not refused: ${JSON.stringify(p)}\n`);
  for (const [k, x] of Object.entries(v))
    process.stdout.write(`${k}=${x}\n`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'load')
  load(Number(args[0]), Number(args[1]), args[2], Number(args[3] || 50), Number(args[4] || 1000),
    Number(args[5] || 10000));
else if (mode === 'summary')
  summary(args[0], args[1]);
else {
  process.stderr.write('usage: drain_client.js load PORT PID OUT [CONNS [LOAD_MS [WAIT_MS]]] | summary OUT LOG\n');
  process.exit(2);
}
