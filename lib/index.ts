/**
 * brake: run BAML functions on native threads, with cancellation that stops every layer.
 *
 * CommonJS entry (dist/index.js). The ESM entry (dist/index.mjs) re-exports
 * these same bindings, so both module systems share one copy of every class.
 */
export { Engine, Program, AUTO_CALL_ID_BASE } from './engine';
export type { EngineOptions, CallOptions, FunctionMap, CallArgs, CallResult, RenderedPrompt, PromptPart, FunctionDeclaration, ProgramDescription } from './engine';
export { BrakeStream, MAX_BUFFERED_DELTAS, MAX_BUFFERED_WATCHES, MAX_UNREAD_EVENTS } from './stream';
export type { StreamEvent } from './stream';
export type { HostFunction, HostContext } from './host';
export type { HttpOptions, FetchFunction } from './http';
export { httpNativeAvailable } from './http';
export {
  BrakeError,
  CancelledError,
  TimeoutError,
  DuplicateCallIdError,
  EngineClosedError,
  InvalidArgumentError,
  UnknownFunctionError,
  CompileError,
  ScriptError,
  HttpError,
  LlmError,
  ParseError,
  STATUS_NAMES,
} from './errors';
export type {
  BrakeErrorCode,
  CallId,
  CancelOrigin,
  CancelledErrorOptions,
  Diagnostic,
  ScriptFrame,
  LlmAttempt,
  StatusName,
} from './errors';
export { Float, BRAKE_CLASS, className } from './values';
export { addonPath } from './native';
