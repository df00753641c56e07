// A real HTTP server on 127.0.0.1 for tests, benchmarks and the demo: fixed
// routes, and a record of every connection (when it opened and closed), so a
// test can prove that cancelling a call closed its socket.
//
//   GET  /ok                 200 text/plain "hello"
//   GET  /json               200 application/json {"name":"ada","n":[1,2.5,true,null]}
//   ANY  /echo               200 JSON {method, headers, body} of the request
//   GET  /status/:code       that status, body "status <code>"
//   GET  /slow?ms=N          headers after N ms (default 10 s)
//   GET  /drip?ms=N          headers at once, then one byte every N ms (default 100), forever
//   GET  /big?bytes=N        N bytes of 'x' (with content-length)
//   GET  /chunked?bytes=N    N bytes of 'y' without content-length
//   GET  /latin1             the bytes "caf\xe9" (not UTF-8)
//   GET  /redirect           302 to /ok
//   ANY  /to?code=N&where=W  status N (default 302) with Location W (default /ok)
//   GET  /loop               302 to itself
//   GET  /cut                content-length 100, 10 bytes, then the socket is destroyed
//   GET  /bad-json           200 application/json "{\"name\": "
//   GET  /reset              resets the connection (RST), no response
//   GET  /numbers?n=N        200 JSON [{"i":0,"s":"n0"}, ...] of N objects
import http from 'node:http';

import { serverTimers } from './timers.mjs';

/**
 * Starts the server. Resolves to { url, port, close(), connections, requests,
 * waitForClose(sinceIndex, timeoutMs) }.
 * `connections` lists { openedAt, closedAt } (performance.now() ms);
 * `requests` lists { method, url, headers, body, socket }.
 */
export async function startHttpServer() {
  const connections = [];
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    const record = { method: req.method, url: req.url, headers: req.headers, body: '', connection: req.socket.__record };
    requests.push(record);
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      record.body = Buffer.concat(chunks).toString('utf8');
      route(req, res, record.body);
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket) => {
    const record = { openedAt: performance.now(), closedAt: undefined };
    socket.__record = record;
    connections.push(record);
    sockets.add(socket);
    socket.on('close', () => {
      record.closedAt = performance.now();
      sockets.delete(socket);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const timers = serverTimers();
  const later = timers.later;

  function route(req, res, body) {
    const u = new URL(req.url, 'http://x');
    const num = (name, dflt) => (u.searchParams.has(name) ? Number(u.searchParams.get(name)) : dflt);
    const path = u.pathname;
    if (path === '/ok') return res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    if (path === '/json') {
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"ada","n":[1,2.5,true,null]}');
    }
    if (path === '/numbers') {
      const n = num('n', 10);
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.from({ length: n }, (_, i) => ({ i, s: `n${i}` }))));
    }
    if (path === '/bad-json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"name": ');
    if (path === '/echo') {
      return res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ method: req.method, headers: req.headers, body }));
    }
    if (path.startsWith('/status/')) {
      const code = Number(path.slice(8));
      return res.writeHead(code, { 'content-type': 'text/plain' }).end(`status ${code}`);
    }
    if (path === '/slow') {
      const t = later(num('ms', 10000), () => res.writeHead(200, { 'content-type': 'text/plain' }).end('done'));
      res.on('close', () => clearTimeout(t));
      return;
    }
    if (path === '/drip') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('d');
      const ms = num('ms', 100);
      const tick = () => {
        if (res.destroyed) return;
        res.write('d');
        t = later(ms, tick);
      };
      let t = later(ms, tick);
      res.on('close', () => clearTimeout(t));
      return;
    }
    if (path === '/big') {
      const n = num('bytes', 1000);
      return res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(n) }).end(Buffer.alloc(n, 'x'));
    }
    if (path === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const n = num('bytes', 1000);
      const piece = Buffer.alloc(Math.min(n, 65536), 'y');
      let left = n;
      while (left > 0) {
        const k = Math.min(left, piece.length);
        res.write(k === piece.length ? piece : piece.subarray(0, k));
        left -= k;
      }
      return res.end();
    }
    if (path === '/latin1') return res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    if (path === '/redirect') return res.writeHead(302, { location: '/ok' }).end();
    if (path === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (path === '/to') return res.writeHead(num('code', 302), { location: u.searchParams.get('where') ?? '/ok' }).end();
    if (path === '/reset') return req.socket.resetAndDestroy(); // RST, no response
    if (path === '/cut') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('0123456789');
      later(20, () => req.socket.destroy());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections,
    requests,
    /** Connections still open. */
    openConnections: () => sockets.size,
    /**
     * Waits until the connection that carried the latest request for a path
     * starting with `prefix` has closed; resolves to its close time
     * (performance.now()), or undefined after timeoutMs.
     */
    async waitForRequestClose(prefix, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const req = requests.findLast((r) => r.url.startsWith(prefix));
        if (req?.connection.closedAt !== undefined) return req.connection.closedAt;
        if (performance.now() > deadline) return undefined;
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    /** Waits until every connection opened at or after index `since` has closed; resolves to the last close time, or undefined on timeout. */
    async waitForClose(since, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const mine = connections.slice(since);
        if (mine.length > 0 && mine.every((c) => c.closedAt !== undefined)) return Math.max(...mine.map((c) => c.closedAt));
        if (performance.now() > deadline) return undefined;
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    close() {
      timers.clear();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
