/**
 * Host functions: JavaScript functions that scripts call like any function.
 *
 * Declared with the engine, before the program is compiled:
 *
 *     Engine.fromSource(src, { host: {
 *       lookup: { signature: '(id: int, tags: string[]) -> User?', fn: async ([id, tags], { signal }) => ... },
 *     } })
 *
 * The signature is BAML and may name the program's classes and enums; the
 * checker checks every call statically, and what `fn` returns (or its promise
 * resolves to) is checked against the return type when it arrives: a value
 * of the wrong type fails the call with ScriptError kind 'type_error' naming
 * the function. A throw or rejection fails the call with ScriptError kind
 * 'host_error' carrying the error's message, its `code` (as `hostCode`) and
 * the error itself as `cause`.
 *
 * Cancellation. `context.signal` aborts, with the call's cancellation reason
 * (the call's AbortSignal's reason, or a CancelledError / TimeoutError like
 * the one the call rejects with), whenever the calling call is cancelled by
 * any source.
 * The call settles at once, without waiting for `fn`; what `fn` returns later
 * is dropped. A call cancelled before `fn` was invoked never invokes it. No
 * AbortController is made unless `fn` reads `signal`.
 */
import type { CallId } from './errors';

/** What a host function receives besides its arguments. */
export interface HostContext {
  /** Aborts when the calling call is cancelled (any source), with its cancellation reason. */
  readonly signal: AbortSignal;
  /** The calling call's id. */
  readonly callId: CallId;
  /** The host function's name. */
  readonly functionName: string;
}

/** A host function: its BAML signature and its implementation. */
export interface HostFunction {
  /** `(name: type, ...) -> type`, e.g. `(id: int, tags: string[]) -> User?`. */
  signature: string;
  /** Receives the arguments as an array (converted like call results) and a context; may return a promise. */
  fn: (args: any[], context: HostContext) => unknown;
}

const NOT_ABORTED: unique symbol = Symbol('not aborted');

/** One host call in flight: the context `fn` sees. @internal */
/** @internal HostCall's hand-over of a streamed body's parts (brake_host_part), set for the HTTP transport's streamed requests. */
export const kStreamPart = Symbol('brake.streamPart');

export class HostCall implements HostContext {
  readonly callId: CallId;
  readonly functionName: string;
  /** lib's slot of the calling call (for its signal and its settle). */
  readonly slot: number;
  #controller: AbortController | undefined;
  #reason: unknown = NOT_ABORTED;
  /** @internal brake_host_part's status (0: the part is on its way). */
  [kStreamPart]: ((bytes: Uint8Array) => number) | undefined;

  constructor(callId: CallId, functionName: string, slot: number) {
    this.callId = callId;
    this.functionName = functionName;
    this.slot = slot;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== NOT_ABORTED) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** The call stopped waiting: abort the signal (now, or when it is first read). */
  abort(reason: unknown): void {
    if (this.#reason !== NOT_ABORTED) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** Checks `options.host` and returns its [name, signature, fn] entries in declaration order. @internal */
export function hostEntries(host: unknown): Array<[string, string, HostFunction['fn']]> {
  if (host === undefined) return [];
  if (typeof host !== 'object' || host === null || Array.isArray(host)) {
    throw new TypeError('options.host must be an object mapping names to { signature, fn }');
  }
  return Object.keys(host).map((name) => {
    const entry = (host as Record<string, unknown>)[name] as Partial<HostFunction> | null;
    if (typeof entry !== 'object' || entry === null) {
      throw new TypeError(`options.host.${name} must be an object { signature, fn }`);
    }
    if (typeof entry.signature !== 'string') throw new TypeError(`options.host.${name}.signature must be a string`);
    if (typeof entry.fn !== 'function') throw new TypeError(`options.host.${name}.fn must be a function`);
    return [name, entry.signature, entry.fn];
  });
}

/** Whether `v` is a thenable (a promise or promise-like). @internal */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}
