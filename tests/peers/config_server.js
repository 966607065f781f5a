#!/usr/bin/env node
// The HTTP server tests/config/test_config_remote.c polls with pt_config_watch_url(): one
// JSON document of overrides with an ETag, 304 for a matching If-None-Match, and counters.
//
//   node config_server.js [PORT]    listens on 127.0.0.1:PORT (0 or none: any free port) and
//                                   prints the port on stdout, alone on a line
//
//   GET  /doc       the document (200 with an ETag, or 304), or a 500, or bad JSON, as set
//   GET  /stats     {"requests":N,"ok":N,"not_modified":N,"errors":N}: the GETs of /doc
//   POST /set       the body becomes the document, with a new ETag
//   POST /set/500   /doc answers 500 from now on
//   POST /set/bad   /doc serves a document that is not JSON, with an ETag of its own
//   POST /set/hang  /doc never answers (the client's timeout or its going away ends it)
//
// It exits when its stdin closes (the test that started it is gone) or after 5 minutes.
'use strict';

const http = require('http');

const BAD_DOC = '{"app.count": 5,,}';

let doc = '{}';
let version = 1;
let mode = 'ok';
const stats = { requests: 0, ok: 0, not_modified: 0, errors: 0 };

function reply(res, code, body, headers) {
  res.writeHead(code, Object.assign({ 'Content-Type': 'application/json' }, headers || {}));
  res.end(body);
}

function serveDoc(req, res) {
  stats.requests++;
  if (mode === 'hang') {
    return;
  }
  if (mode === '500') {
    stats.errors++;
    reply(res, 500, '{"error":"broken on purpose"}');
    return;
  }
  const tag = mode === 'bad' ? `"bad-${version}"` : `"v${version}"`;
  if (req.headers['if-none-match'] === tag) {
    stats.not_modified++;
    res.writeHead(304, { ETag: tag });
    res.end();
    return;
  }
  stats.ok++;
  reply(res, 200, mode === 'bad' ? BAD_DOC : doc, { ETag: tag });
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
  });
  req.on('end', () => {
    const what = `${req.method} ${req.url}`;
    if (what === 'GET /doc') {
      serveDoc(req, res);
    } else if (what === 'GET /stats') {
      reply(res, 200, JSON.stringify(stats));
    } else if (what === 'POST /set') {
      doc = body;
      mode = 'ok';
      version++;
      reply(res, 200, '{"ok":true}');
    } else if (what === 'POST /set/500' || what === 'POST /set/bad' || what === 'POST /set/hang') {
      mode = req.url.slice(5);
      version++;
      reply(res, 200, '{"ok":true}');
    } else {
      reply(res, 404, '{"error":"no such endpoint"}');
    }
  });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 5 * 60 * 1000).unref();
