/**
 * ESM entry: the same bindings as the CommonJS entry (one copy of the classes,
 * so `instanceof` and the module's state are shared between `import` and `require`).
 */
export {
  Engine,
  AUTO_CALL_ID_BASE,
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
  STATUS_NAMES,
  Float,
  BRAKE_CLASS,
  className,
  addonPath,
} from './index.js';
export type {
  EngineOptions,
  CallOptions,
  FunctionMap,
  CallArgs,
  CallResult,
  BrakeErrorCode,
  CallId,
  CancelOrigin,
  CancelledErrorOptions,
  Diagnostic,
  ScriptFrame,
  LlmAttempt,
  StatusName,
} from './index.js';
