/**
 * HTTP for scripts: `baml.http.fetch(url, { method, headers, body, timeout_ms })`.
 *
 * The engine checks each request first (the URL, the options, the network
 * policy `allowedHosts`) and keeps its timeout; the transport performs it.
 * Here the transport is the host's: each request reaches `fetch` (Node's
 * own, undici, unless `options.http.fetch` replaces it: a proxy, auth,
 * recording, tests) with an AbortSignal that aborts the moment the script's
 * call is cancelled or the request times out, which closes its socket.
 *
 * The response goes back whole: status, final URL, headers, and the body
 * decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD), read up to
 * `maxResponseBytes` (a longer one fails the request). Redirects are not
 * followed: a 3xx is the response. When no response arrives (refused, DNS,
 * TLS, reset, over the limit) the script gets `status_code` 0 and the reason
 * in `response.error`.
 */
import { kStreamPart, type HostCall, type HostContext, type HostFunction } from './host';
import { STATUS_NAMES } from './errors';
import { native } from './native';

/** The `fetch` the host transport calls (a subset of the WHATWG signature). */
export type FetchFunction = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal; redirect: 'manual' },
) => Promise<Response>;

/** `options.http` of {@link Engine.fromSource}. */
export interface HttpOptions {
  /**
   * Who performs requests: 'native' (on the engine's own threads: brake's own
   * HTTP/1.1 client for plain HTTP, libcurl for HTTPS and proxies; only when this build has libcurl, see {@link httpNativeAvailable}),
   * 'libcurl' (native, with libcurl for every request) or 'host' (`fetch` in
   * this process). Default: native when available and no `fetch` is given, else host.
   */
  transport?: 'native' | 'libcurl' | 'host';
  /** The host transport's fetch. Default: `globalThis.fetch` (undici). Implies transport 'host'. */
  fetch?: FetchFunction;
  /** Native transport: CA certificates (PEM) to trust instead of the system's store (e.g. a test server's own). */
  ca?: string;
  /** A request's timeout when the script gives none (`timeout_ms`), in ms, redirects included. Default 0: none. */
  timeoutMs?: number;
  /** Native transport: the connection phase's timeout (host-name lookup, TCP and TLS) when the script gives none (`connect_timeout_ms`). Default 300 s (libcurl's). */
  connectTimeoutMs?: number;
  /**
   * Redirects followed per request, each hop checked against `allowedHosts`;
   * 301/302/303 turn a POST (or other) into a GET without body, 307/308 keep
   * it; credentials are not sent to another origin. Default 0: a 3xx is the response.
   */
  maxRedirects?: number;
  /** Responses with a longer body fail (`status_code` 0). Default 64 MiB; 0 = unlimited. */
  maxResponseBytes?: number;
  /**
   * Hosts scripts may reach: `'api.example.com'`, `'*.example.com'` (its
   * subdomains), `'127.0.0.1:8080'`, `'[::1]'`; a port is optional. A request
   * elsewhere fails with HttpError kind 'network_policy' before any
   * connection or DNS lookup. Default: every host; `[]`: none.
   */
  allowedHosts?: string[];
}

/** Whether this build of brake has the native HTTP transport (libcurl). */
export function httpNativeAvailable(): boolean {
  return native().httpNative;
}

/** Checks `options.http`. @internal */
export function checkHttpOptions(http: unknown): void {
  if (http === undefined) return;
  if (typeof http !== 'object' || http === null || Array.isArray(http)) {
    throw new TypeError('options.http must be an object { fetch, timeoutMs, maxResponseBytes, allowedHosts }');
  }
  const h = http as HttpOptions;
  if (h.fetch !== undefined && typeof h.fetch !== 'function') throw new TypeError('options.http.fetch must be a function');
  if (h.transport !== undefined && h.transport !== 'native' && h.transport !== 'libcurl' && h.transport !== 'host') {
    throw new TypeError("options.http.transport must be 'native', 'libcurl' or 'host'");
  }
  if (h.transport !== undefined && h.transport !== 'host' && h.fetch !== undefined) {
    throw new TypeError(`options.http.fetch is the host transport's: not with transport '${h.transport}'`);
  }
  if (h.ca !== undefined && typeof h.ca !== 'string') throw new TypeError('options.http.ca must be a string of PEM certificates');
  for (const key of ['timeoutMs', 'maxResponseBytes', 'connectTimeoutMs', 'maxRedirects'] as const) {
    const v = h[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) {
      throw new RangeError(`options.http.${key} must be a whole number >= 0`);
    }
  }
  if (h.allowedHosts !== undefined && (!Array.isArray(h.allowedHosts) || h.allowedHosts.some((x) => typeof x !== 'string'))) {
    throw new TypeError('options.http.allowedHosts must be an array of strings');
  }
}

/** Why a request failed, as the script reads it (`response.error`). */
function reasonOf(error: unknown): { message: string; code?: string } {
  // undici: TypeError('fetch failed') with the system error as its cause.
  const cause = (error as { cause?: unknown } | null)?.cause;
  const inner = cause instanceof Error ? cause : error instanceof Error ? error : undefined;
  const message = inner ? inner.message : String(error);
  const code = (inner as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? { message, code } : { message };
}

class HttpTransportError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

async function readBody(res: Response, limit: number): Promise<string> {
  if (res.body === null) return ''; // HEAD, 204, 304: a content-length but no body
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (limit > 0 && length > limit) {
    await res.body?.cancel().catch(() => {});
    throw new HttpTransportError(`the response body is larger than the limit of ${limit} bytes`, 'ERR_BRAKE_RESPONSE_TOO_LARGE');
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (limit > 0 && total > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpTransportError(`the response body is larger than the limit of ${limit} bytes`, 'ERR_BRAKE_RESPONSE_TOO_LARGE');
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
}

/** Hands `res`'s body to the engine as it arrives (brake_host_part); the answer's body is then "". */
const STATUS_NO_MEMORY = STATUS_NAMES.indexOf('NO_MEMORY');

async function streamBody(res: Response, limit: number, sendPart: (bytes: Uint8Array) => number): Promise<string> {
  const reader = res.body!.getReader();
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return '';
    total += value.byteLength;
    if (limit > 0 && total > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpTransportError(`the response body is larger than the limit of ${limit} bytes`, 'ERR_BRAKE_RESPONSE_TOO_LARGE');
    }
    const status = sendPart(value);
    if (status !== 0) {
      await reader.cancel().catch(() => {});
      // Not queued: the reply would have a gap.
      if (status === STATUS_NO_MEMORY) throw new HttpTransportError('out of memory handing over the streamed body', 'ERR_BRAKE_NO_MEMORY');
      return ''; // the call stopped waiting (its signal has aborted the fetch too)
    }
  }
}

/** The host transport: the implementation behind `baml.http.fetch`'s host calls. @internal */
export function hostTransport(fetchImpl: FetchFunction | undefined): HostFunction['fn'] {
  const doFetch: FetchFunction = fetchImpl ?? ((url, init) => fetch(url, init));
  return async (args: any[], context: HostContext) => {
    const [url, method, headers, body, , maxResponseBytes] = args as [string, string, Record<string, string>, string | null, number, number];
    try {
      const res = await doFetch(url, { method, headers, body: body ?? undefined, signal: context.signal, redirect: 'manual' });
      // A streamed LLM call's 2xx body goes over in parts as it arrives.
      const sendPart = (context as HostCall)[kStreamPart];
      const text =
        sendPart !== undefined && res.ok && res.body !== null
          ? await streamBody(res, maxResponseBytes, sendPart)
          : await readBody(res, maxResponseBytes);
      const out: Record<string, string> = {};
      res.headers.forEach((value, name) => {
        out[name] = value;
      });
      return { status: res.status, url: res.url, headers: out, body: text };
    } catch (error) {
      if (error instanceof HttpTransportError) throw error;
      const { message, code } = reasonOf(error);
      throw new HttpTransportError(message, code);
    }
  };
}
