/**
 * The hand-written type of the native module (native/addon), so the contract
 * between lib/ and the addon is checked by the compiler. Everything here is
 * internal; the public API is lib/engine.ts.
 */

/** One completed call, flattened into the batch array: [callId, status, payload]. */
export type NativeCallId = number | bigint;

/**
 * Payload of a failed call: [message, origin, errorKind, frames], where
 * origin is a brake_origin number (0 none, 1 cancel, 2 token, 3 timeout,
 * 4 close, 5 parent) and frames a flat [function, line, function, line, ...].
 */
export type NativeFailure = [message: string, origin: number, errorKind: string, frames: Array<string | number>];

/**
 * Receives every completion drained in one go, flattened as triples:
 * batch[3i] = call id (number when <= 2^53-1, else bigint), batch[3i+1] =
 * status (0 = OK), batch[3i+2] = the converted value when OK; for CANCELLED
 * and TIMEOUT the brake_origin number; for any other status a NativeFailure.
 */
/**
 * Receives drained completions. `more` is true when completions remain queued
 * (the addon delivers floods in slices): call `drain()` on a later turn.
 */
export type NativeBatchCallback = (batch: unknown[], more: boolean) => void;

export interface NativeEngineOptions {
  workerThreads: number;
  maxCallDepth: number;
}

/** [name, parameter names] of every function the program declares, in source order. */
export type NativeSignature = [name: string, params: string[]];

/** A brake_token: one per AbortSignal in use. */
export interface NativeToken {
  /** Cancels every live call started with this token; returns how many it flagged. Idempotent. */
  cancel(): number;
  readonly cancelled: boolean;
}

export interface NativeEngine {
  /**
   * Starts a call (brake_call_start). Throws the class for the status on
   * failure (DuplicateCallIdError, UnknownFunctionError, InvalidArgumentError,
   * EngineClosedError). `args` is an array of JS values converted in place.
   * timeoutMs 0 = none; token may be undefined.
   */
  start(id: NativeCallId, fn: string, args: readonly unknown[], timeoutMs: number, token: NativeToken | undefined): void;
  /** brake_cancel: true when a live call was found. */
  cancel(id: NativeCallId): boolean;
  /** Cancels live calls, joins the workers and delivers their completions (origin close) before returning. Idempotent. */
  close(): void;
  /** brake_engine_live_calls (0 after close). */
  liveCalls(): number;
  /** Delivers the next slice of queued completions through onBatch. */
  drain(): void;
}

/** A compiled program without diagnostics (brake_program), freed when collected. */
export interface NativeProgram {
  /** Function signatures, for named arguments. */
  signatures(): NativeSignature[];
}

export interface NativeEngineConstructor {
  /** brake_engine_create with `notify` set; `onBatch` receives the completions. Throws InvalidArgumentError for bad options. */
  new (program: NativeProgram, options: NativeEngineOptions, onBatch: NativeBatchCallback): NativeEngine;
}

/** [file, line, column, message] for each diagnostic. */
export type NativeDiagnostic = [file: string, line: number, column: number, message: string];

export interface NativeModule {
  /** brake_version() of the linked core. */
  readonly version: string;
  /** brake_status_name for every status, index = code. */
  readonly statusNames: string[];
  /**
   * Hands the addon the error classes (index = status code) and the Float
   * marker class. Called once per module instance by lib/native.ts.
   */
  setup(errorClasses: Array<(new (message: string) => Error) | undefined>, codes: string[], floatClass: Function): void;
  /** Compiles `source`: the program, or every diagnostic when it does not compile. */
  compile(source: string, fileName: string): NativeProgram | NativeDiagnostic[];
  Engine: NativeEngineConstructor;
  Token: new () => NativeToken;
}
