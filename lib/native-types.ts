/**
 * The hand-written type of the native module (native/addon), so the contract
 * between lib/ and the addon is checked by the compiler. Everything here is
 * internal; the public API is lib/engine.ts.
 */

export type NativeCallId = number | bigint;

/**
 * Payload of a failed call (other than a cancellation): [message, errorKind,
 * frames, hostCode?, http?], frames a flat [function, line, ...]; hostCode: the
 * code a failing host function gave ('' when there is an `http` after it);
 * http: brake_result_http_status, _url and _body of a BRAKE_HTTP_ERROR (null
 * when attempts follow); attempts: brake_result_llm_attempt_* of a
 * BRAKE_LLM_ERROR, duration in milliseconds.
 */
export type NativeFailure = [
  message: string,
  errorKind: string,
  frames: Array<string | number>,
  hostCode?: string,
  http?: [status: number, url: string, body: string] | null,
  attempts?: Array<[client: string, provider: string, status: number, error: string, durationMs: number, body: string]>,
  thrown?: unknown,
];

/** Events per slice: the size of the typed arrays handed to the addon. */
export const DRAIN_SLICE = 2048;
/** What event k is (meta[2k+1] >>> 24). */
export const EVENT_COMPLETION = 0;
export const EVENT_HOST_CALL = 1;
export const EVENT_HOST_CANCEL = 2;
export const EVENT_STREAM = 3;
/** Where completion k's payload is ((meta[2k+1] >>> 16) & 0xff). */
export const REP_VALUE = 0; // values[next++] (a NativeFailure for failures)
export const REP_NUMBER = 1; // nums[k]
export const REP_TRUE = 2;
export const REP_FALSE = 3;
export const REP_NULL = 4; // also: no payload (cancellations)

/**
 * Receives one slice of `count` events (native/addon/slice.h), written by the
 * addon into the typed arrays given to the Engine constructor, in the order
 * the engine produced them (a call's host calls and cancels before its
 * completion). meta[2k] = the call's slot (as passed to start; -1 for a host
 * cancel), meta[2k+1] = kind << 24 | ..., by kind:
 *  - EVENT_COMPLETION: status | origin << 8 | rep << 16 (origin: the
 *    brake_origin number, 0 none, 1 cancel, 2 token, 3 timeout, 4 close,
 *    5 parent). For a failure (status != 0), nums[k] is the call id, or NaN
 *    when the id is above 2^53-1: then the id (a bigint) comes in `values`
 *    before the failure's payload.
 *  - EVENT_HOST_CALL: argc << 16 | the host function's index (16 bits);
 *    nums[k] = the operation id; `values` gets the argc arguments.
 *  - EVENT_HOST_CANCEL: origin << 8; nums[k] = the operation id.
 *  - EVENT_STREAM: a streamed call's events (startStream); `values` gets one
 *    array of them, flattened: [1, function, client, attempt] for an
 *    attempt, [2, text] for a delta, [3, value] for a partial value.
 * The payloads (those with rep REP_VALUE, and the host calls' arguments)
 * follow in order as arguments (or as one array: BATCH_VALUES_ARRAY).
 * BATCH_MORE says events remain queued (floods come in slices): call
 * `drain()` on a later turn.
 */
export type NativeBatchCallback = (count: number, flags: number, ...payloads: unknown[]) => void;
/** onBatch's flags: events remain queued (call `drain()` on a later turn). */
export const BATCH_MORE = 1;
/** onBatch's flags: the payloads come as one array (payloads[0]), not as arguments. */
export const BATCH_VALUES_ARRAY = 2;

export interface NativeEngineOptions {
  workerThreads: number;
  maxCallDepth: number;
  /** Bytes; undefined keeps brake.h's default, 0 = unlimited. */
  callMemoryLimit: number | undefined;
  engineMemoryLimit: number | undefined;
  /** The environment scripts may read: [names, values]. */
  env: [string[], string[]];
  allowShell: boolean;
  http: {
    transport: boolean;
    libcurlOnly: boolean;
    timeoutMs: number | undefined;
    maxResponseBytes: number | undefined;
    allowedHosts: string[] | undefined;
    ca: string | undefined;
    connectTimeoutMs: number | undefined;
    maxRedirects: number | undefined;
  };
}

/** [name, parameter names] of every function the program declares, in source order. */
export type NativeSignature = [name: string, params: string[], signature: string, llm: boolean];

/** A brake_token: one per AbortSignal in use. */
export interface NativeToken {
  /**
   * Cancels every live call started with this token; returns how many it
   * flagged. Idempotent. Calls it finished in place (sleeping calls of idle
   * workers, small cancels) are delivered through onBatch before it returns.
   */
  cancel(): number;
  readonly cancelled: boolean;
}

/** NativeEngine's start and startStream (see start). */
export type NativeStart = (
  id: NativeCallId,
  slot: number,
  fn: string | number,
  timeoutMs: number,
  token: NativeToken | undefined,
  tags: [names: string[], values: string[]] | undefined,
  ...args: unknown[]
) => void;

export interface NativeEngine {
  /**
   * Starts a call (brake_call_start). Throws the class for the status on
   * failure (DuplicateCallIdError, UnknownFunctionError, InvalidArgumentError,
   * EngineClosedError). `slot` (an int32 >= 0) comes back with the
   * completion; `fn` is a function name or its index in signatures();
   * timeoutMs 0 = none; token may be undefined; `args` are the script's
   * arguments, converted in place.
   */
  start: NativeStart;
  /** As start, with the call's stream events (EVENT_STREAM) delivered before its completion. */
  startStream: NativeStart;
  /** brake_cancel: true when a live call was found; if it was finished in place, onBatch has delivered it on return. */
  cancel(id: NativeCallId): boolean;
  /** brake_engine_render_prompt (throws its failure). */
  renderPrompt(
    fn: string,
    args: unknown[],
    client: string | undefined,
    tags: [string[], string[]] | undefined,
    timeoutMs: number,
  ): unknown;
  /** brake_engine_parse (throws its failure). */
  parse(fn: string, text: string, partial: boolean, timeoutMs: number): unknown;
  /**
   * Refuses new calls, cancels live calls and joins the workers off the JS
   * thread; resolves once their completions (origin close) have been
   * delivered and the engine is freed. Idempotent. Throws (synchronously)
   * when called while events are being delivered.
   */
  close(): Promise<void>;
  /** brake_engine_live_calls (0 after close). */
  liveCalls(): number;
  /** brake_engine_live_tasks (0 after close). */
  liveTasks(): number;
  /** Delivers the next slice of queued events through onBatch. */
  drain(): void;
  /**
   * brake_host_complete: true when operation `op` was pending. Throws
   * InvalidArgumentError (the operation stays pending) when `value` cannot
   * cross to a script.
   */
  hostComplete(op: number, value: unknown): boolean;
  /**
   * brake_host_complete_all: answers ops[i] with values[i]. Returns undefined,
   * or [index, InvalidArgumentError] for each value that cannot cross (that
   * operation stays pending).
   */
  hostCompleteMany(ops: Float64Array, values: unknown[]): Array<[number, Error]> | undefined;
  /** brake_host_part: a part of a streamed body (host transport); its status (0 OK, else NOT_FOUND or NO_MEMORY). */
  hostPart(op: number, bytes: Uint8Array): number;
  /** brake_host_fail: true when operation `op` was pending. */
  hostFail(op: number, message: string, code: string | undefined): boolean;
  /** brake_engine_pending_host_calls (0 after close). */
  pendingHostCalls(): number;
  /** brake_engine_http_transfers and brake_engine_http_sockets (zeros after close). */
  httpStats(): { transfers: number; sockets: number };
}

/** A compiled program without diagnostics (brake_program), freed when collected. */
export interface NativeProgram {
  /** Function signatures, for named arguments. */
  signatures(): NativeSignature[];
  /** brake_program_describe: the declarations as JSON text. */
  describe(): string;
}

export interface NativeEngineConstructor {
  /** brake_engine_create with `notify` set; `onBatch` receives the completions. Throws InvalidArgumentError for bad options. */
  new (
    program: NativeProgram,
    options: NativeEngineOptions,
    onBatch: NativeBatchCallback,
    meta: Int32Array, // 2 * DRAIN_SLICE
    nums: Float64Array, // DRAIN_SLICE
  ): NativeEngine;
}

/** [file, line, column, message] for each diagnostic. */
export type NativeDiagnostic = [file: string, line: number, column: number, message: string];

export interface NativeModule {
  /** brake_version() of the linked core. */
  readonly version: string;
  /** Whether this build has the native HTTP transport (libcurl). */
  readonly httpNative: boolean;
  /** brake_status_name for every status, index = code. */
  readonly statusNames: string[];
  /** BRAKE_MAX_WORKER_THREADS, BRAKE_MAX_CALL_DEPTH and BRAKE_MAX_TIMEOUT_MS of brake.h. */
  readonly limits: { maxWorkerThreads: number; maxCallDepth: number; maxTimeoutMs: number };
  /**
   * Hands the addon the error classes (index = status code), the Float
   * marker class, util.types.isProxy and fromJson (results built by
   * JSON.parse, lib/values.ts). Called once per module instance by
   * lib/native.ts.
   */
  setup(
    errorClasses: Array<(new (message: string) => Error) | undefined>,
    codes: string[],
    floatClass: Function,
    isProxy: (value: unknown) => boolean,
    fromJson: (text: string, marks: string | undefined) => unknown,
  ): void;
  /** Compiles `source`: the program, or every diagnostic when it does not compile. */
  compile(
    source: string,
    fileName: string,
    host?: Array<[name: string, signature: string]>,
  ): NativeProgram | NativeDiagnostic[];
  /** As compile, off the JS thread. */
  compileAsync(
    source: string,
    fileName: string,
    host?: Array<[name: string, signature: string]>,
  ): Promise<NativeProgram | NativeDiagnostic[]>;
  Engine: NativeEngineConstructor;
  Token: new () => NativeToken;
}
