// baml.http.fetch through the TypeScript API, over real sockets to a local
// server (test/support/http-server.mjs), with each transport (the host's:
// Node's fetch; the native one: libcurl on the engine's workers, when built):
// responses, failures as status_code 0, the body read once, JSON,
// limits, timeouts, the network policy, a user's own fetch, and cancellation
// closing the request's socket.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, HttpError, ScriptError, httpNativeAvailable, type EngineOptions, type FetchFunction } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startHttpServer } from '../support/http-server.mjs';
import { connectionsClosed, requestsArrived, settle, sleep } from './helpers';

const SOURCE = `
function status(url: string) -> int { baml.http.fetch(url).status_code }
function text(url: string) -> string { baml.http.fetch(url).text() }
function text_twice(url: string) -> string { let r = baml.http.fetch(url); let a = r.text(); r.text() }
function summary(url: string) -> map<string, string> {
  let r = baml.http.fetch(url);
  let e = r.error;
  let ok = "no";
  if (r.ok()) { ok = "yes"; }
  let error = "";
  if (e != null) { error = e; }
  { "ok": ok, "url": r.url, "type": r.headers["content-type"], "error": error }
}
function error_of(url: string) -> string {
  let e = baml.http.fetch(url).error;
  if (e != null) { e } else { "none" }
}
function name_of(url: string) -> string {
  let j = baml.http.fetch(url).json();
  match (j["name"]) {
    s: string => s,
    _ => "no name",
  }
}
function post(url: string, who: string) -> string {
  baml.http.fetch(url, { method: "POST", headers: { "x-who": who }, body: { who: who, n: [1, 2] } }).text()
}
function timed(url: string, ms: int) -> string {
  let e = baml.http.fetch(url, { timeout_ms: ms }).error;
  if (e != null) { e } else { "none" }
}
function whole(url: string) -> baml.http.Response { baml.http.fetch(url) }
function head(url: string) -> int { baml.http.fetch(url, { method: "HEAD" }).status_code }
function post_auth(url: string) -> string {
  baml.http.fetch(url, { method: "POST", headers: { "authorization": "Bearer s3cret" }, body: "payload" }).text()
}
function final_url(url: string) -> string { baml.http.fetch(url).url }
function sum_i(url: string) -> int {
  let total = 0;
  for (let x in baml.http.fetch(url).json()) {
    match (x["i"]) {
      i: int => { total += i; },
      _ => {},
    }
  }
  total
}
`;

type Server = Awaited<ReturnType<typeof startHttpServer>>;
const failure = async (p: Promise<unknown>): Promise<unknown> => (await settle(p)).error;

/** A port nothing listens on (fetch refuses the "bad ports" such as 1 before connecting). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
let server: Server;

beforeAll(async () => {
  server = await startHttpServer();
});

afterAll(async () => {
  await server?.close();
});

// Every case runs with each transport: the host's, and when this build has
// libcurl the native one (own HTTP/1.1 client for these plain-HTTP requests)
// and the native one with libcurl for every request.
const TRANSPORTS: Array<'host' | 'native' | 'libcurl'> = httpNativeAvailable() ? ['host', 'native', 'libcurl'] : ['host'];

describe.each(TRANSPORTS)('baml.http.fetch (%s transport)', (transport) => {
  let engine: Engine;
  /** Engine options with this suite's transport. */
  const opts = (o: EngineOptions = {}): EngineOptions => ({ ...o, http: { transport, ...o.http } });
  beforeAll(async () => {
    engine = await Engine.fromSource(SOURCE, opts({ workerThreads: 2 }));
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('returns a response with status_code, ok(), url, headers and text()', async () => {
    expect(await engine.call('status', [`${server.url}/ok`])).toBe(200);
    expect(await engine.call('text', [`${server.url}/ok`])).toBe('hello');
    expect(await engine.call('summary', [`${server.url}/ok`])).toEqual({
      ok: 'yes',
      url: `${server.url}/ok`,
      type: 'text/plain',
      error: '',
    });
    expect(await engine.call('status', [`${server.url}/status/503`])).toBe(503);
    expect((await engine.call('summary', [`${server.url}/status/404`]) as Record<string, string>).ok).toBe('no');
  });

  it('crosses back to JS without its body', async () => {
    const r = (await engine.call('whole', [`${server.url}/ok`])) as Record<string, unknown>;
    expect(r).toEqual({ status_code: 200, url: `${server.url}/ok`, headers: expect.any(Object), error: null });
    expect((r.headers as Record<string, string>)['content-type']).toBe('text/plain');
  });

  it('reads the body once: a second text() is an HttpError (a ScriptError) naming the response', async () => {
    const e = await failure(engine.call('text_twice', [`${server.url}/ok`]));
    expect(e).toBeInstanceOf(HttpError);
    expect(e).toBeInstanceOf(ScriptError);
    const h = e as HttpError;
    expect([h.kind, h.code, h.status, h.url, h.body]).toEqual(['body_consumed', 'ERR_BRAKE_HTTP_ERROR', 200, `${server.url}/ok`, '']);
    expect(h.message).toContain('Response body has already been consumed');
    expect(h.frames[0]).toEqual({ function: 'text_twice', line: expect.any(Number) });
  });

  it('parses JSON into values a script can index and match; invalid JSON is a typed error', async () => {
    expect(await engine.call('name_of', [`${server.url}/json`])).toBe('ada');
    // A few megabytes of JSON (200,000 objects).
    expect(await engine.call('sum_i', [`${server.url}/numbers?n=200000`])).toBe((199999 * 200000) / 2);
    const e = await failure(engine.call('name_of', [`${server.url}/bad-json`]));
    expect(e).toBeInstanceOf(HttpError);
    const h = e as HttpError;
    expect([h.kind, h.status, h.url, h.body]).toEqual(['json_parse_error', 200, `${server.url}/bad-json`, '{"name": ']);
  });

  it('sends the method, headers and a JSON body built from a value', async () => {
    const echoed = JSON.parse((await engine.call('post', [`${server.url}/echo`, 'ada "the" 1st'])) as string);
    expect(echoed.method).toBe('POST');
    expect(echoed.headers['x-who']).toBe('ada "the" 1st');
    expect(echoed.headers['content-type']).toBe('application/json');
    expect(JSON.parse(echoed.body)).toEqual({ who: 'ada "the" 1st', n: [1, 2] });
  });

  it('gives status_code 0 and the reason when no response arrives', async () => {
    const port = await closedPort();
    expect(await engine.call('status', [`http://127.0.0.1:${port}/`])).toBe(0);
    expect(await engine.call('error_of', [`http://127.0.0.1:${port}/`])).toMatch(/ECONNREFUSED|Couldn't connect/);
    // As in BAML's own test: port 1 (which fetch refuses to use) is status_code 0 too.
    expect(await engine.call('status', ['http://localhost:1'])).toBe(0);
    // The server cuts the body short.
    expect(await engine.call('status', [`${server.url}/cut`])).toBe(0);
    expect(await engine.call('error_of', [`${server.url}/cut`])).not.toBe('none');
  });

  it('decodes bytes that are not UTF-8 as U+FFFD', async () => {
    expect(await engine.call('text', [`${server.url}/latin1`])).toBe('caf\uFFFD');
  });

  it('does not follow redirects unless asked to; then follows them, each hop checked', async () => {
    expect(await engine.call('status', [`${server.url}/redirect`])).toBe(302);
    const follows = await Engine.fromSource(SOURCE, opts({ workerThreads: 1, http: { maxRedirects: 3 } }));
    const guarded = await Engine.fromSource(
      SOURCE,
      opts({ workerThreads: 1, http: { maxRedirects: 3, allowedHosts: [`127.0.0.1:${server.port}`] } }),
    );
    try {
      expect(await follows.call('text', [`${server.url}/redirect`])).toBe('hello');
      expect(await follows.call('final_url', [`${server.url}/redirect`])).toBe(`${server.url}/ok`);
      // 303: the POST becomes a GET without its body; 307 keeps both.
      const e303 = JSON.parse((await follows.call('post_auth', [`${server.url}/to?code=303&where=/echo`])) as string);
      expect([e303.method, e303.body, e303.headers.authorization]).toEqual(['GET', '', 'Bearer s3cret']);
      const e307 = JSON.parse((await follows.call('post_auth', [`${server.url}/to?code=307&where=/echo`])) as string);
      expect([e307.method, e307.body]).toEqual(['POST', 'payload']);
      // Another origin (localhost is not 127.0.0.1): no credentials.
      const where = encodeURIComponent(`http://localhost:${server.port}/echo`);
      const other = JSON.parse((await follows.call('post_auth', [`${server.url}/to?code=307&where=${where}`])) as string);
      expect(other.headers.authorization).toBeUndefined();
      // A chain longer than maxRedirects: the last 3xx is the answer.
      const before = server.requests.length;
      expect(await follows.call('status', [`${server.url}/loop`])).toBe(302);
      expect(server.requests.length).toBe(before + 4); // the request and 3 redirects
      // A hop outside the policy is refused before it is sent.
      const sent = server.requests.length;
      const e = await failure(guarded.call('status', [`${server.url}/to?where=${where}`]));
      expect((e as ScriptError).kind).toBe('network_policy');
      expect(server.requests.length).toBe(sent + 1);
    } finally {
      await follows.close();
      await guarded.close();
    }
  });

  it('fails a response over maxResponseBytes, with or without content-length', async () => {
    const small = await Engine.fromSource(SOURCE, opts({ workerThreads: 1, http: { maxResponseBytes: 1000 } }));
    try {
      expect(await small.call('status', [`${server.url}/big?bytes=1000`])).toBe(200);
      expect(await small.call('error_of', [`${server.url}/big?bytes=1001`])).toContain('larger than the limit of 1000 bytes');
      expect(await small.call('error_of', [`${server.url}/chunked?bytes=5000`])).toContain('larger than the limit of 1000 bytes');
      // HEAD: the content-length of a body that does not come.
      expect(await small.call('head', [`${server.url}/big?bytes=5000`])).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('reads a 100 MB body when the limits allow it', async () => {
    const roomy = await Engine.fromSource(
      'function n(url: string) -> int { baml.http.fetch(url).text().length() }',
      opts({ workerThreads: 1, http: { maxResponseBytes: 0 } }),
    );
    try {
      expect(await roomy.call('n', [`${server.url}/big?bytes=${100 * 1024 * 1024}`])).toBe(100 * 1024 * 1024);
    } finally {
      await roomy.close();
    }
  });

  it('times a request out (its own timeout_ms, or the engine default) and closes its socket', async () => {
    const t0 = performance.now();
    expect(await engine.call('timed', [`${server.url}/slow?ms=10001`, 50])).toBe('timed out after 50 ms');
    expect(performance.now() - t0).toBeLessThan(2000);
    const closed = await server.waitForRequestClose('/slow?ms=10001');
    expect(closed).toBeDefined();
    expect(closed! - t0).toBeLessThan(2000);
    const dflt = await Engine.fromSource(SOURCE, opts({ workerThreads: 1, http: { timeoutMs: 40 } }));
    try {
      expect(await dflt.call('error_of', [`${server.url}/slow?ms=10000`])).toBe('timed out after 40 ms');
    } finally {
      await dflt.close();
    }
  });

  it('cancelling the call aborts the request and closes its socket (waiting for headers, and mid-body)', async () => {
    for (const path of ['/slow?ms=10002', '/drip?ms=50']) {
      const before = server.requests.length;
      const controller = new AbortController();
      const p = engine.call('text', [`${server.url}${path}`], { signal: controller.signal });
      // The request is under way (for /drip, its body too).
      const deadline = performance.now() + 5000;
      while (!server.requests.slice(before).some((r: { url: string }) => r.url === path)) {
        if (performance.now() > deadline) throw new Error('the request never arrived');
        await sleep(2);
      }
      await sleep(120);
      const t0 = performance.now();
      controller.abort();
      const e = await failure(p);
      expect(e).toBeInstanceOf(CancelledError);
      expect(performance.now() - t0).toBeLessThan(500);
      const closed = await server.waitForRequestClose(path);
      expect(closed, `${path}: the socket closed`).toBeDefined();
      expect(closed! - t0).toBeLessThan(1000);
    }
    expect(engine.pendingHostCalls).toBe(0);
  });

  it('refuses hosts outside allowedHosts before connecting', async () => {
    const since = server.requests.length;
    const guarded = await Engine.fromSource(SOURCE, opts({ workerThreads: 1, http: { allowedHosts: [`127.0.0.1:${server.port}`] } }));
    try {
      expect(await guarded.call('status', [`${server.url}/ok`])).toBe(200);
      for (const url of [`http://localhost:${server.port}/ok`, `http://127.0.0.1:${server.port + 1}/ok`, 'https://example.com/']) {
        const e = await failure(guarded.call('status', [url]));
        expect(e, url).toBeInstanceOf(HttpError);
        const h = e as HttpError;
        expect([h.kind, h.status, h.url, h.body]).toEqual(['network_policy', 0, url, '']);
      }
      expect(server.requests.length).toBe(since + 1); // only the allowed one arrived
    } finally {
      await guarded.close();
    }
    const none = await Engine.fromSource(SOURCE, opts({ workerThreads: 1, http: { allowedHosts: [] } }));
    try {
      const e = await failure(none.call('status', [`${server.url}/ok`]));
      expect((e as ScriptError).kind).toBe('network_policy');
    } finally {
      await none.close();
    }
    await expect(Engine.fromSource(SOURCE, opts({ http: { allowedHosts: ['bad host'] } }))).rejects.toThrow(/network rule/);
  });

  it('refuses a bad URL or option with a typed error', async () => {
    for (const url of ['ftp://example.com/', 'not a url', 'http://']) {
      const e = await failure(engine.call('status', [url]));
      expect(e, url).toBeInstanceOf(ScriptError);
      expect((e as ScriptError).kind).toBe('invalid_argument');
    }
  });

  it('serves many concurrent requests and leaves nothing pending', async () => {
    const n = 500;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => engine.call('status', [`${server.url}/ok?i=${i}`])));
    expect(results.every((s) => s === 200)).toBe(true);
    expect(engine.pendingHostCalls).toBe(0);
  });
});

// The native transport's own accounting (engine.httpStats) and close():
// every cancelled transfer's socket is closed right after its call settles, and
// close() with a thousand transfers in flight leaves the event loop free
// while the workers shut them down.
describe.runIf(httpNativeAvailable())('native transport: transfers, sockets and close()', () => {
  const n = 1000;
  /** Starts n requests that hang until cancelled; resolves once the server holds them all. */
  async function hanging(e: Engine, tag: string, signal?: AbortSignal): Promise<Array<Promise<unknown>>> {
    const calls = Array.from({ length: n }, (_, i) => e.call('text', [`${server.url}/slow?ms=30000&${tag}=${i}`], { signal }));
    await requestsArrived(server, `&${tag}=`, n);
    return calls;
  }
  /**
   * The engine's HTTP counters once its workers have closed the sockets of
   * settled calls (a cancelled call settles first; its worker closes the
   * socket right after delivering it, within milliseconds).
   */
  async function statsSoon(e: Engine, want: { transfers: number; sockets: number }): Promise<{ transfers: number; sockets: number }> {
    const deadline = performance.now() + 500;
    while (JSON.stringify(e.httpStats) !== JSON.stringify(want) && performance.now() < deadline) await sleep(1);
    return e.httpStats;
  }
  const allClosed = (tag: string): Promise<boolean> => connectionsClosed(server, `&${tag}=`);

  it('a thousand transfers cancelled together: all removed, every socket closed', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 2, http: { transport: 'native' } });
    try {
      const controller = new AbortController();
      const calls = await hanging(e, 'mass', controller.signal);
      expect(e.httpStats).toEqual({ transfers: n, sockets: n });
      controller.abort();
      const settled = await Promise.allSettled(calls);
      expect(settled.every((r) => r.status === 'rejected' && r.reason instanceof CancelledError)).toBe(true);
      expect(await statsSoon(e, { transfers: 0, sockets: 0 })).toEqual({ transfers: 0, sockets: 0 });
      expect(await allClosed('mass')).toBe(true);
      // The engine keeps serving: one connection per worker at most stays for reuse.
      expect(await e.call('status', [`${server.url}/ok`])).toBe(200);
      expect(await statsSoon(e, { transfers: 0, sockets: 1 })).toEqual({ transfers: 0, sockets: 1 });
    } finally {
      await e.close();
    }
  });

  it('failures leave no transfer and no socket behind', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native', maxResponseBytes: 1000 } });
    try {
      const port = await closedPort();
      expect(await e.call('status', [`http://127.0.0.1:${port}/`])).toBe(0);
      expect(await e.call('status', [`${server.url}/cut`])).toBe(0);
      expect(await e.call('error_of', [`${server.url}/big?bytes=5000`])).toContain('larger than the limit');
      expect(await e.call('timed', [`${server.url}/slow?ms=10003`, 30])).toBe('timed out after 30 ms');
      expect(await statsSoon(e, { transfers: 0, sockets: 0 })).toEqual({ transfers: 0, sockets: 0 });
    } finally {
      await e.close();
    }
  });

  it('close() with a thousand transfers in flight returns at once; every call settles before it resolves', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 2, http: { transport: 'native' } });
    const calls = await hanging(e, 'closing');
    const outcomes: string[] = [];
    for (const c of calls) c.then(() => outcomes.push('value'), (err) => outcomes.push(err instanceof CancelledError ? err.origin : 'other'));
    const t0 = performance.now();
    const closing = e.close();
    const blocked = performance.now() - t0;
    expect(e.closed).toBe(true);
    await expect(e.call('status', [`${server.url}/ok`])).rejects.toThrow(/closed/);
    await closing;
    await Promise.resolve(); // the outcome handlers above ran before close() resolved
    expect(outcomes.length).toBe(n);
    expect(outcomes.every((o) => o === 'close')).toBe(true);
    expect(await allClosed('closing')).toBe(true);
    // Joining the workers (removing 1000 transfers, closing their sockets:
    // 25 to 50 ms here when it was done in place) happens on another thread:
    // close() itself only starts it.
    expect(blocked).toBeLessThan(15);
  });
});

describe("baml.http.fetch with the host's own fetch", () => {
  it('uses the fetch the host passes, with the AbortSignal of the call', async () => {
    const seen: Array<{ url: string; method: string; aborted: boolean }> = [];
    const signals: AbortSignal[] = [];
    const fake: FetchFunction = async (url, init) => {
      seen.push({ url, method: init.method, aborted: init.signal.aborted });
      signals.push(init.signal);
      if (url.endsWith('/hang')) return new Promise<Response>(() => {});
      return new Response('from the fake', { status: 207, headers: { 'x-fake': '1' } });
    };
    const custom = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { fetch: fake } });
    try {
      expect(await custom.call('text', ['https://api.example.com/v1'])).toBe('from the fake');
      expect(await custom.call('status', ['https://api.example.com/v1'])).toBe(207);
      const controller = new AbortController();
      const p = custom.call('text', ['https://api.example.com/hang'], { signal: controller.signal });
      while (seen.length < 3) await sleep(1);
      controller.abort(new Error('user gave up'));
      expect(await failure(p)).toBeInstanceOf(CancelledError);
      expect(signals[2]!.aborted).toBe(true);
      expect(signals[2]!.reason).toEqual(new Error('user gave up'));
      expect(seen[0]).toEqual({ url: 'https://api.example.com/v1', method: 'GET', aborted: false });
    } finally {
      await custom.close();
    }
  });
});

// HTTPS with the native transport inside Node: libcurl and the system's
// OpenSSL in a process that carries Node's own OpenSSL. A self-signed
// certificate is made for the test (openssl CLI) and trusted through
// http.ca; without it the request fails (status_code 0). A cancel during the
// TLS handshake (a server that accepts and never answers) closes the socket.
describe.runIf(httpNativeAvailable())('HTTPS (native transport)', () => {
  let dir: string;
  let cert: string;
  let tlsServer: https.Server;
  let tlsPort: number;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'brake-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    tlsServer = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`secure ${req.method}`);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    tlsServer?.closeAllConnections();
    await new Promise((r) => tlsServer?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trusts the CA it is given, and only that', async () => {
    const trusting = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native', ca: cert } });
    const plain = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native' } });
    try {
      for (let i = 0; i < 3; i++) expect(await trusting.call('text', [`https://127.0.0.1:${tlsPort}/x`])).toBe('secure GET');
      expect(await plain.call('status', [`https://127.0.0.1:${tlsPort}/x`])).toBe(0);
      expect(await plain.call('error_of', [`https://127.0.0.1:${tlsPort}/x`])).toMatch(/SSL|certificate/i);
    } finally {
      await trusting.close();
      await plain.close();
    }
  });

  it('connect_timeout_ms bounds the connection phase (a server that never completes TLS)', async () => {
    const silent = net.createServer((socket) => socket.on('data', () => {}).on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native', ca: cert, connectTimeoutMs: 100 } });
    try {
      const t0 = performance.now();
      expect(await e.call('error_of', [`https://127.0.0.1:${port}/x`])).toMatch(/time/i);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(90);
      expect(took).toBeLessThan(2000);
    } finally {
      await e.close();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a cancel during the TLS handshake closes the socket at once', async () => {
    const closedAt: number[] = [];
    const silent = net.createServer((socket) => {
      socket.on('data', () => {}); // reads the ClientHello (and so sees the close)
      socket.on('error', () => {}); // a cancel resets the connection (ECONNRESET)
      socket.on('close', () => closedAt.push(performance.now()));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native', ca: cert } });
    try {
      const controller = new AbortController();
      const p = e.call('text', [`https://127.0.0.1:${port}/x`], { signal: controller.signal });
      await sleep(100);
      const t0 = performance.now();
      controller.abort();
      expect(await failure(p)).toBeInstanceOf(CancelledError);
      const deadline = performance.now() + 2000;
      while (closedAt.length === 0 && performance.now() < deadline) await sleep(1);
      expect(closedAt.length).toBe(1);
      expect(closedAt[0]! - t0).toBeLessThan(500);
    } finally {
      await e.close();
      await new Promise((r) => silent.close(r));
    }
  });
});
