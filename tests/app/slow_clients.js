// tests/app/slow_clients.js: the clients of tests/app/slow_clients.sh.
//
//   node slow_clients.js PORT [SLOW [NORMAL [WAIT_MS]]]
//
// Opens SLOW (200) connections to 127.0.0.1:PORT, each sending
// "GET /hello HTTP/1.1\r\nHost: x\r\n" one byte per second (the headers never end), and
// records for each when its first byte went, what came back (the status line) and when the
// server closed it. Meanwhile it makes NORMAL (20) requests for GET /hello, one every 100 ms,
// each on a connection of its own, and times each from connect to the last byte of the
// response. It stops once every slow connection is closed, or WAIT_MS (6000) after the start,
// and prints name=value lines for the shell to check; details of what went wrong go to stderr.
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
const nslow = Number(process.argv[3] || 200);
const nnormal = Number(process.argv[4] || 20);
const waitMs = Number(process.argv[5] || 6000);
const REQUEST = 'GET /hello HTTP/1.1\r\nHost: x\r\n';
const t0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - t0) / 1e6;

const slow = [];
const normal = [];
let finished = false;

function slowConnection(i) {
  const c = {i, first_byte_at: null, sent: 0, got: '', closed_at: null, err: null};
  slow.push(c);
  const sock = net.connect(port, '127.0.0.1');
  c.sock = sock;
  const tick = () => {
    if (c.closed_at !== null || c.sent >= REQUEST.length)
      return;
    if (c.first_byte_at === null)
      c.first_byte_at = now();
    sock.write(REQUEST[c.sent++]);
  };
  sock.on('connect', () => {
    tick();
    c.timer = setInterval(tick, 1000);
  });
  sock.on('data', (d) => { c.got += d.toString('latin1'); });
  sock.on('error', (e) => { c.err = e.code; });
  sock.on('close', () => {
    c.closed_at = now();
    clearInterval(c.timer);
    maybeReport();
  });
}

function normalRequest(i) {
  const r = {i, started_at: now(), ms: null, status: null, body: '', err: null};
  normal.push(r);
  let buf = '';
  const sock = net.connect(port, '127.0.0.1', () => {
    sock.write(`GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: normal-${i}\r\nConnection: close\r\n\r\n`);
  });
  sock.setTimeout(2000, () => { r.err = 'timeout'; sock.destroy(); });
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    const len = /\r\ncontent-length: *(\d+)/i.exec(buf);
    if (r.ms === null && end >= 0 && len && buf.length >= end + 4 + Number(len[1])) {
      r.ms = now() - r.started_at;
      r.status = Number((/^HTTP\/1\.1 (\d{3})/.exec(buf) || [0, 0])[1]);
      r.body = buf.slice(end + 4);
    }
  });
  sock.on('error', (e) => { r.err = e.code; });
  sock.on('close', () => { r.closed = true; maybeReport(); });
}

// Once every slow connection is closed and every normal request is over.
function maybeReport() {
  if (slow.every((c) => c.closed_at !== null) && normal.length === nnormal && normal.every((r) => r.closed))
    report();
}

function report() {
  if (finished)
    return;
  finished = true;
  const v = {};
  const cutMs = slow.map((c) => (c.closed_at === null || c.first_byte_at === null ? Infinity : c.closed_at - c.first_byte_at));
  v.slow = slow.length;
  v.slow_started = slow.filter((c) => c.first_byte_at !== null).length;
  v.slow_cut = slow.filter((c) => c.closed_at !== null).length;
  v.slow_408 = slow.filter((c) => /^HTTP\/1\.1 408 /.test(c.got)).length;
  v.slow_other_answer = slow.filter((c) => c.got !== '' && !/^HTTP\/1\.1 408 /.test(c.got)).length;
  v.slow_408_close = slow.filter((c) => /^HTTP\/1\.1 408 [^]*\r\nconnection: *close\r\n/i.test(c.got)).length;
  v.slow_max_bytes_sent = Math.max(0, ...slow.map((c) => c.sent));
  v.cut_min_ms = Math.round(Math.min(...cutMs));
  v.cut_max_ms = Number.isFinite(Math.max(...cutMs)) ? Math.round(Math.max(...cutMs)) : 99999;
  v.normal = normal.length;
  v.normal_ok = normal.filter((r) => r.status === 200 && r.body === 'hello, tests\n').length;
  v.normal_max_ms = Math.ceil(Math.max(...normal.map((r) => (r.ms === null ? 99999 : r.ms))));
  v.normal_last_started_ms = Math.round(Math.max(...normal.map((r) => r.started_at)));
  for (const c of slow.filter((c) => c.got === '' || c.closed_at === null).slice(0, 5))
    process.stderr.write(`slow connection ${c.i}: first byte at ${c.first_byte_at} ms, closed at ${c.closed_at} ms, err ${c.err}, got ${JSON.stringify(c.got)}\n`);
  for (const r of normal.filter((r) => r.status !== 200 || r.ms === null || r.ms >= 100))
    process.stderr.write(`normal request ${r.i}: started at ${Math.round(r.started_at)} ms, took ${r.ms} ms, status ${r.status}, err ${r.err}\n`);
  for (const [k, x] of Object.entries(v))
    process.stdout.write(`${k}=${x}\n`);
  for (const c of slow)
    c.sock.destroy();
  process.exit(0);
}

for (let i = 0; i < nslow; i++)
  slowConnection(i);
// The normal requests start once the slow connections have sent their first byte.
setTimeout(() => {
  for (let i = 0; i < nnormal; i++)
    setTimeout(() => normalRequest(i), 100 * i);
}, 100);
setTimeout(report, waitMs);
