/**
 * Every error class brake throws or rejects with, in one file (undici's model).
 *
 * Codes. Each error has a stable `code` string: `'ERR_BRAKE_' + <STATUS>` where
 * <STATUS> is the name of the C status in native/include/brake_status.h
 * (`ERR_BRAKE_SCRIPT_ERROR`, `ERR_BRAKE_DUPLICATE_CALL_ID`, ...). The one
 * exception is {@link CancelledError}, whose `code` is Node's `'ABORT_ERR'` and
 * whose `name` is `'AbortError'`, so generic abort checks (`err.name ===
 * 'AbortError'`) work. {@link TimeoutError} (the engine's own deadline) has
 * `name` 'TimeoutError' and code 'ERR_BRAKE_TIMEOUT'. test/js checks the code
 * list against brake_status.h.
 *
 * `instanceof` works across two copies of this package: each class carries a
 * `Symbol.for('brake.error.<Class>')` brand on its prototype and checks it in
 * `Symbol.hasInstance`.
 *
 * The addon never builds messages into classes by parsing text: at load time
 * lib/native.ts hands it {@link ERROR_CLASS_BY_STATUS}, and it picks the class
 * by status code.
 */

/** Names of the C statuses, in code order (index = numeric status). Checked against brake_status.h by a test. */
export const STATUS_NAMES = [
  'OK',
  'MISUSE',
  'INVALID_ARGUMENT',
  'NO_MEMORY',
  'COMPILE_ERROR',
  'UNKNOWN_FUNCTION',
  'DUPLICATE_CALL_ID',
  'NOT_FOUND',
  'ENGINE_CLOSED',
  'CANCELLED',
  'TIMEOUT',
  'SCRIPT_ERROR',
  'INTERNAL',
  'HTTP_ERROR',
  'LLM_ERROR',
] as const;

export type StatusName = (typeof STATUS_NAMES)[number];

/** Every `code` a brake error can carry. */
export type BrakeErrorCode = 'ABORT_ERR' | `ERR_BRAKE_${Exclude<StatusName, 'OK' | 'CANCELLED'>}`;

/** Why a cancelled call stopped. */
export type CancelOrigin = 'signal' | 'cancel' | 'timeout' | 'close' | 'parent';

/** A call id as the API accepts it: a bigint or a safe-integer number, non-zero, below 2^64. */
export type CallId = bigint | number;

const kHasInstance = Function.prototype[Symbol.hasInstance];

function brand(cls: { prototype: object; brand: symbol }): void {
  Object.defineProperty(cls.prototype, cls.brand, { value: true });
}

/** Base class of every brake error. */
export class BrakeError extends Error {
  /** The cross-copy brand checked by `instanceof`. */
  static readonly brand: symbol = Symbol.for('brake.error.BrakeError');

  static override [Symbol.hasInstance](value: unknown): boolean {
    // A user subclass without its own brand falls back to the prototype chain.
    if (!Object.prototype.hasOwnProperty.call(this, 'brand')) return kHasInstance.call(this, value);
    return (
      typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[this.brand] === true
    );
  }

  declare readonly code: BrakeErrorCode;

  constructor(message?: string, code: BrakeErrorCode = 'ERR_BRAKE_INTERNAL', options?: { cause?: unknown }) {
    super(message, options);
    // A plain own data property (enumerable, writable, configurable); set by
    // assignment, which costs far less than defineProperty when 100k
    // cancelled calls settle at once.
    (this as { code: BrakeErrorCode }).code = code;
  }
}
BrakeError.prototype.name = 'BrakeError';
brand(BrakeError);

export interface CancelledErrorOptions {
  /** The signal's reason when a signal caused the cancellation. */
  cause?: unknown;
  callId?: CallId;
  origin?: CancelOrigin;
}

/** A call was cancelled: by its signal, `engine.cancel()`, its deadline, `engine.close()` or its parent. */
export class CancelledError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.CancelledError');
  /** The id of the cancelled call (undefined when the call never got one, e.g. a pre-aborted signal). */
  declare readonly callId: CallId | undefined;
  /** What cancelled the call. */
  declare readonly origin: CancelOrigin;

  // Built 100k at a time when a shared signal aborts, so each step is the
  // cheap one (measured): `message`, `cause` (only when given) and the
  // other fields are plain own data properties set by assignment, like
  // `code`. Handing them to Error's constructor (which makes them
  // non-enumerable) costs more than the rest of the constructor: about a
  // fifth of settling 100k calls. Own, so structuredClone and postMessage
  // keep the message; util.inspect still prints it once. `declare` fields:
  // a class field would define each property twice.
  constructor(message = 'The operation was aborted', options: CancelledErrorOptions = {}, code: BrakeErrorCode = 'ABORT_ERR') {
    super(undefined, code);
    this.message = message;
    if ('cause' in options) this.cause = options.cause;
    this.callId = options.callId;
    this.origin = options.origin ?? 'cancel';
  }
}
CancelledError.prototype.name = 'AbortError';
brand(CancelledError);

/** The engine's own per-call deadline (`timeoutMs`) passed. */
export class TimeoutError extends CancelledError {
  static override readonly brand: symbol = Symbol.for('brake.error.TimeoutError');
  constructor(message = 'The call timed out', options: CancelledErrorOptions = {}) {
    super(message, { origin: 'timeout', ...options }, 'ERR_BRAKE_TIMEOUT');
  }
}
TimeoutError.prototype.name = 'TimeoutError';
brand(TimeoutError);

/** Starting a call whose id is live. The live call is not disturbed. */
export class DuplicateCallIdError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.DuplicateCallIdError');
  readonly callId: CallId | undefined;
  constructor(message = 'A live call already has that id', callId?: CallId) {
    super(message, 'ERR_BRAKE_DUPLICATE_CALL_ID');
    this.callId = callId;
  }
}
DuplicateCallIdError.prototype.name = 'DuplicateCallIdError';
brand(DuplicateCallIdError);

/** The engine is closed (or closing). */
export class EngineClosedError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.EngineClosedError');
  constructor(message = 'The engine is closed') {
    super(message, 'ERR_BRAKE_ENGINE_CLOSED');
  }
}
EngineClosedError.prototype.name = 'EngineClosedError';
brand(EngineClosedError);

/** An argument the engine cannot accept: a value that cannot cross to the script, a bad id or option, wrong argument count or types. */
export class InvalidArgumentError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.InvalidArgumentError');
  constructor(message = 'Invalid argument', code: BrakeErrorCode = 'ERR_BRAKE_INVALID_ARGUMENT') {
    super(message, code);
  }
}
InvalidArgumentError.prototype.name = 'InvalidArgumentError';
brand(InvalidArgumentError);

/** The program declares no function with that name. */
export class UnknownFunctionError extends InvalidArgumentError {
  static override readonly brand: symbol = Symbol.for('brake.error.UnknownFunctionError');
  constructor(message = 'No function with that name') {
    super(message, 'ERR_BRAKE_UNKNOWN_FUNCTION');
  }
}
UnknownFunctionError.prototype.name = 'UnknownFunctionError';
brand(UnknownFunctionError);

/** One compiler diagnostic (1-based line and column). */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** The source does not compile. `diagnostics` holds every error the compiler found, not just the first. */
export class CompileError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.CompileError');
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], message?: string) {
    super(
      message ??
        (diagnostics.length
          ? diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('\n')
          : 'The source does not compile'),
      'ERR_BRAKE_COMPILE_ERROR',
    );
    this.diagnostics = diagnostics;
  }
}
CompileError.prototype.name = 'CompileError';
brand(CompileError);

/** One frame of a script stack, innermost first. */
export interface ScriptFrame {
  function: string;
  line: number;
}

/** A script failed at run time (panic, overflow, index out of range, uncaught throw, ...). */
export class ScriptError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.ScriptError');
  /**
   * "panic", "overflow", "division_by_zero", "index_out_of_range", "key_not_found", "stack_overflow",
   * "type_error", "assertion", "value_too_deep", "out_of_memory", "host_error" (a host function threw
   * or rejected), "missing_env" (an environment variable the engine was not given), "parse_error"
   * ({@link ParseError}), "unhandled_throw" (a `throw` no `catch` took: the value is {@link ScriptError.value}),
   * "internal", or "value_too_large" (the result holds a string longer than V8's limit of 2^29-24 characters).
   */
  readonly kind: string;
  /** kind 'unhandled_throw': the value the script threw (converted as a result would be). */
  readonly value: unknown;
  /** The script stack at the failure, innermost first. */
  readonly frames: ScriptFrame[];
  readonly callId: CallId | undefined;
  /** kind 'host_error': the host error's own `code` (a string), when it had one. */
  readonly hostCode: string | undefined;
  constructor(message: string, kind = '', frames: ScriptFrame[] = [], callId?: CallId, hostCode?: string, value?: unknown) {
    super(message, 'ERR_BRAKE_SCRIPT_ERROR');
    this.kind = kind;
    this.frames = frames;
    this.callId = callId;
    this.hostCode = hostCode;
    this.value = value;
  }
}
ScriptError.prototype.name = 'ScriptError';
brand(ScriptError);

/**
 * A script failed because of an HTTP exchange; also a {@link ScriptError}
 * (kind, frames). `kind`: 'network_policy' (the URL is outside
 * `http.allowedHosts`; nothing was sent), 'http_unavailable' (no transport),
 * 'body_consumed' (text()/json() on a body already read), 'json_parse_error'
 * (json() on a body that is not JSON). `status`, `url` and `body` come from
 * the engine as data (brake_result_http_*), never parsed from the message. A
 * request that gets no response is not an error: the script's response has
 * status_code 0 and the reason in its `error` field.
 */
export class HttpError extends ScriptError {
  static override readonly brand: symbol = Symbol.for('brake.error.HttpError');
  /** The response's status code; 0 when there was no response (refused before sending). */
  readonly status: number | undefined;
  /** The request's URL. */
  readonly url: string | undefined;
  /** The first 1024 bytes of the response body (cut at a character boundary); '' when it was not at hand. */
  readonly body: string | undefined;
  constructor(
    message: string,
    details: { kind?: string; frames?: ScriptFrame[]; status?: number; url?: string; body?: string; callId?: CallId } = {},
  ) {
    super(message, details.kind, details.frames, details.callId);
    (this as { code: BrakeErrorCode }).code = 'ERR_BRAKE_HTTP_ERROR';
    this.status = details.status;
    this.url = details.url;
    this.body = details.body;
  }
}
HttpError.prototype.name = 'HttpError';
brand(HttpError);

/**
 * A model's text did not fit the type it was parsed into
 * ({@link Engine.parse}); a {@link ScriptError} of kind 'parse_error'.
 */
export class ParseError extends ScriptError {
  static override readonly brand: symbol = Symbol.for('brake.error.ParseError');
  /** The text that was parsed. */
  readonly raw: string;
  /** Where in the type it did not fit: '$' (the whole value), '$.people[1].age', ... */
  readonly path: string;
  constructor(message: string, raw: string, path = '$') {
    super(message, 'parse_error');
    this.raw = raw;
    this.path = path;
  }
}
ParseError.prototype.name = 'ParseError';
brand(ParseError);

/** One failed attempt of an LLM call. */
export interface LlmAttempt {
  /** The primitive client's name (for `client "openai/gpt-4o"`, that text). */
  client: string;
  /** Its provider: 'openai', 'openai-generic', 'azure-openai', 'ollama' or 'anthropic'. */
  provider: string;
  /** The HTTP status; undefined when there was no response (a network error or a timeout). */
  status?: number;
  /** Why the attempt failed. */
  error: string;
  /** How long the attempt took. */
  durationMs: number;
  /** The first 1,024 bytes of the response body ('' when there was none). */
  body: string;
}

/**
 * Every attempt of an LLM function failed (its client's retries and fallbacks
 * exhausted). Never a cancellation: a cancelled call is a CancelledError.
 */
export class LlmError extends BrakeError {
  static override readonly brand: symbol = Symbol.for('brake.error.LlmError');
  readonly attempts: LlmAttempt[];
  readonly callId: CallId | undefined;
  constructor(message: string, attempts: LlmAttempt[] = [], callId?: CallId) {
    super(message, 'ERR_BRAKE_LLM_ERROR');
    this.attempts = attempts;
    this.callId = callId;
  }
}
LlmError.prototype.name = 'LlmError';
brand(LlmError);

/** The class the addon throws for a synchronous failure with each status (by name). OK and NOT_FOUND are never thrown. */
export const ERROR_CLASS_BY_STATUS: Readonly<Record<Exclude<StatusName, 'OK'>, new (message: string) => BrakeError>> = {
  MISUSE: BrakeError,
  INVALID_ARGUMENT: InvalidArgumentError,
  NO_MEMORY: BrakeError,
  COMPILE_ERROR: BrakeError, // compile failures come back as diagnostics and become CompileError in lib
  UNKNOWN_FUNCTION: UnknownFunctionError,
  DUPLICATE_CALL_ID: DuplicateCallIdError,
  NOT_FOUND: BrakeError,
  ENGINE_CLOSED: EngineClosedError,
  CANCELLED: CancelledError,
  TIMEOUT: TimeoutError,
  SCRIPT_ERROR: ScriptError,
  INTERNAL: BrakeError,
  HTTP_ERROR: HttpError,
  LLM_ERROR: LlmError,
};

/** `code` for a status name. */
export function codeForStatus(status: StatusName): BrakeErrorCode {
  return status === 'CANCELLED' || status === 'OK' ? 'ABORT_ERR' : (`ERR_BRAKE_${status}` as BrakeErrorCode);
}
