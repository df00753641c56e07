// The HTTP benchmarks' server, in a process of its own (so its CPU is not
// the client's): test/support/http-server.mjs on 127.0.0.1, plus the route
// POST /v1/chat/completions answering a small OpenAI-shaped JSON reply.
// Sends {port} on IPC when listening, {request: id} when GET /slow?id=N
// arrives (it never answers), and the connections closed, batched:
// {closes: [[closedAt, ids], ...]}: epoch ms (performance.timeOrigin + now:
// comparable across processes on one machine) and the /slow ids each carried.
import http from 'node:http';

import { REPLY } from '../lib/openai-reply.mjs';

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url.startsWith('/v1/chat/completions')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) }).end(REPLY);
    } else if (req.url.startsWith('/slow')) {
      const id = Number(new URL(req.url, 'http://x').searchParams.get('id'));
      (req.socket.__ids ??= []).push(id);
      process.send({ request: id });
      const t = setTimeout(() => res.writeHead(200).end('late'), 600_000);
      res.on('close', () => clearTimeout(t));
    } else {
      res.writeHead(404).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;
// Closes are timed when they happen and reported in batches (one IPC message
// per turn), so reporting 5,000 closes does not slow the server down.
let closes = [];
const flush = () => {
  const batch = closes;
  closes = [];
  if (process.connected) process.send({ closes: batch }, () => {});
};
server.on('connection', (socket) => {
  socket.setNoDelay(true);
  socket.on('close', () => {
    if (closes.length === 0) setImmediate(flush);
    closes.push([performance.timeOrigin + performance.now(), socket.__ids ?? []]);
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
