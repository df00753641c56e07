// A mock LLM server on 127.0.0.1 for tests, benchmarks and the demo: the
// OpenAI chat-completions and Anthropic messages shapes (what brake's
// providers send and parse), server-sent-event streaming, and faults on
// demand, with a record of every request (when it arrived, what it asked,
// when the client closed its connection), so a test can count attempts and
// prove that a cancel closed the socket. No API key is checked or needed.
//
//   POST .../chat/completions   OpenAI shape (openai, openai-generic, azure-openai, ollama's /v1)
//   POST .../messages           Anthropic shape
//   GET  /requests              the record, as JSON (for other processes)
//
// What a request gets, first match wins:
//   1. the `x-mock` request header: a JSON behaviour (below);
//   2. the next behaviour queued with enqueue() for the request's model, then the default queue;
//   3. the server's default: status 200 with the reply text (options.reply: a string, or a
//      function of the parsed request; default: "echo: " + the last user message's text).
// A behaviour is an object with any of:
//   status        an HTTP status; non-2xx answers with the provider's error body
//   retryAfter    seconds, sent as retry-after (with a 429, say)
//   delayMs       wait this long before the headers
//   content       the reply text
//   finishReason  OpenAI finish_reason / Anthropic stop_reason (default "stop" / "end_turn")
//   stream        true/false: override the request's own `stream`
//   chunks        the reply cut into these pieces when streaming (default: words)
//   chunkDelayMs  wait between streamed events
//   stallAfter    stop sending after this many streamed events (the connection stays open)
//   malformed     true: a body that is not valid JSON (or a broken SSE event when streaming)
//   close         'before-headers' | 'mid-body': destroy the socket at that point
//   hang          true: never answer (until the client goes away)
//   body          a raw JSON value sent as the whole response body (overrides the shape)
import http from 'node:http';

import { serverTimers } from './timers.mjs';

/** The text of a message's content (a string, or OpenAI/Anthropic content parts). */
function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'string' ? p : p?.text ?? '')).join('');
  return '';
}

function lastUserText(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return textOf(messages[i].content);
  return '';
}

/** Splits text into streamed pieces: words with their following space. */
function words(text) {
  const parts = text.match(/\S+\s*|\s+/g);
  return parts ?? [''];
}

function openaiReply(id, model, content, finishReason) {
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: 10, completion_tokens: words(content).length, total_tokens: 10 + words(content).length },
  };
}

function anthropicReply(id, model, content, stopReason) {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: content }],
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: words(content).length },
  };
}

function errorBody(provider, status, message) {
  if (provider === 'anthropic') {
    const type = status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
    return { type: 'error', error: { type, message } };
  }
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

/** The SSE events of a streamed reply, as [event name or null, data] pairs. */
function streamEvents(provider, id, model, pieces, finish) {
  if (provider === 'anthropic') {
    const events = [
      ['message_start', { type: 'message_start', message: { ...anthropicReply(id, model, '', null), content: [], usage: { input_tokens: 10, output_tokens: 0 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['ping', { type: 'ping' }],
    ];
    for (const text of pieces) events.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }]);
    events.push(
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: finish, stop_sequence: null }, usage: { output_tokens: pieces.length } }],
      ['message_stop', { type: 'message_stop' }],
    );
    return events;
  }
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, finishReason) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] });
  const events = [[null, chunk({ role: 'assistant', content: '' }, null)]];
  for (const text of pieces) events.push([null, chunk({ content: text }, null)]);
  events.push([null, chunk({}, finish)], [null, '[DONE]']);
  return events;
}

/**
 * Starts the mock. Resolves to { url, port, requests, enqueue(behaviour | behaviours, { model }),
 * clearQueues(), waitForRequests(n, timeoutMs), waitForClose(request, timeoutMs), close() }.
 * `requests` lists { id, provider, path, headers, body (parsed JSON, or the raw text), arrivedAt,
 * closedAt, answered, behaviour } (times: performance.now() ms of this process).
 */
export async function startMockLlm(options = {}) {
  const requests = [];
  const queues = new Map(); // model ('' = any) -> behaviours
  const sockets = new Set();
  const timers = serverTimers();
  const later = timers.later;
  let nextId = 1;

  const behaviourFor = (req, model) => {
    const header = req.headers['x-mock'];
    if (typeof header === 'string' && header) {
      try {
        return JSON.parse(header);
      } catch {
        return { status: 400, content: 'x-mock is not JSON' };
      }
    }
    for (const key of [model, '']) {
      const q = queues.get(key);
      if (q?.length) return q.shift();
    }
    return {};
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/requests') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(requests.map(({ socket, ...r }) => r)));
        return;
      }
      const provider = path.endsWith('/chat/completions') ? 'openai' : path.endsWith('/messages') ? 'anthropic' : undefined;
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const model = typeof body?.model === 'string' ? body.model : '';
      const record = {
        id: nextId++,
        provider,
        path,
        headers: req.headers,
        body,
        arrivedAt: performance.now(),
        closedAt: undefined,
        answered: false,
        behaviour: undefined,
      };
      requests.push(record);
      req.socket.__requests.push(record);
      if (!provider || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody('openai', 404, `no route ${req.method} ${path}`)));
        record.answered = true;
        return;
      }
      if (typeof body !== 'object' || body === null) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody(provider, 400, 'the request body is not JSON')));
        record.answered = true;
        return;
      }
      const b = behaviourFor(req, model);
      record.behaviour = b;
      if (b.hang) return;
      const answer = () => respond(res, req, record, provider, model, body, b);
      if (b.delayMs) later(b.delayMs, answer);
      else answer();
    });
  });

  function respond(res, req, record, provider, model, body, b) {
    if (res.destroyed || req.socket.destroyed) return;
    if (b.close === 'before-headers') {
      req.socket.destroy();
      return;
    }
    const status = b.status ?? 200;
    const headers = { 'content-type': 'application/json' };
    if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
    if (status < 200 || status > 299) {
      res.writeHead(status, headers);
      res.end(b.malformed ? '{"error": ' : JSON.stringify(b.body ?? errorBody(provider, status, b.content ?? `mock status ${status}`)));
      record.answered = true;
      return;
    }
    const content = b.content ?? (typeof options.reply === 'function' ? options.reply(body) : options.reply ?? `echo: ${lastUserText(body)}`);
    const id = `${provider === 'anthropic' ? 'msg' : 'chatcmpl'}-mock-${record.id}`;
    const finish = b.finishReason ?? (provider === 'anthropic' ? 'end_turn' : 'stop');
    const stream = b.stream ?? body.stream === true;
    if (!stream) {
      const full = b.body ?? (provider === 'anthropic' ? anthropicReply(id, model, content, finish) : openaiReply(id, model, content, finish));
      const json = b.malformed ? JSON.stringify(full).slice(0, 20) : JSON.stringify(full);
      if (b.close === 'mid-body') {
        res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(json) + 100) });
        res.write(json.slice(0, Math.max(1, json.length >> 1)));
        later(5, () => req.socket.destroy());
        return;
      }
      res.writeHead(200, headers);
      res.end(json);
      record.answered = true;
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = streamEvents(provider, id, model, b.chunks ?? words(content), finish);
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (b.close === 'mid-body' && i === Math.max(1, events.length >> 1)) {
        req.socket.destroy();
        return;
      }
      if (b.stallAfter !== undefined && i === b.stallAfter) return; // stalled: nothing more, never closed
      if (i === events.length) {
        res.end();
        record.answered = true;
        return;
      }
      const [event, data] = events[i++];
      const payload = typeof data === 'string' ? data : JSON.stringify(data);
      const broken = b.malformed && i === 2 ? payload.slice(0, payload.length >> 1) : payload;
      res.write(`${event ? `event: ${event}\n` : ''}data: ${broken}\n\n`);
      if (b.chunkDelayMs) later(b.chunkDelayMs, next);
      else next();
    };
    next();
  }

  server.keepAliveTimeout = 5000;
  server.on('connection', (socket) => {
    socket.__requests = [];
    sockets.add(socket);
    socket.on('close', () => {
      const at = performance.now();
      for (const r of socket.__requests) if (r.closedAt === undefined) r.closedAt = at;
      sockets.delete(socket);
    });
  });
  // A deep accept queue (the kernel caps it at somaxconn): thousands of
  // clients connecting at once are not made to retry their SYNs.
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: options.backlog ?? 4096 }, resolve));
  const port = server.address().port;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    /** Queues behaviours for the next requests (of `model`, or of any model). */
    enqueue(behaviours, { model = '' } = {}) {
      const q = queues.get(model) ?? [];
      q.push(...(Array.isArray(behaviours) ? behaviours : [behaviours]));
      queues.set(model, q);
    },
    clearQueues() {
      queues.clear();
    },
    /** Resolves once `n` requests have arrived in all (or rejects after timeoutMs). */
    async waitForRequests(n, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (requests.length < n) {
        if (performance.now() > deadline) throw new Error(`mock LLM: ${requests.length} of ${n} requests arrived`);
        await sleep(1);
      }
    },
    /** Resolves to when the client closed the connection `request` came on (undefined on timeout). */
    async waitForClose(request, timeoutMs = 2000) {
      const deadline = performance.now() + timeoutMs;
      while (request.closedAt === undefined && performance.now() < deadline) await sleep(1);
      return request.closedAt;
    },
    async close() {
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
