/**
 * The Engine: a compiled program plus the worker threads that run its calls.
 *
 * Call ids. Every call has a 64-bit non-zero id: a `bigint` or a safe-integer
 * `number`. Ids are normalised (a bigint <= 2^53-1 is the same id as the
 * equal number). When `callId` is not given, the engine assigns one from its
 * own counter starting at 2^52 (AUTO_CALL_ID_BASE): ids below 2^52 are never
 * assigned, so small user-chosen ids cannot collide with assigned ones; if an
 * assigned id is nevertheless live (the user chose one >= 2^52), the engine
 * skips to the next. A user-chosen id that is live gives DuplicateCallIdError
 * and leaves the live call alone.
 *
 * Errors. `call()` never throws: every failure is a rejected promise. Wrong
 * JS types (fn not a string, options not an object, signal not an
 * AbortSignal) reject with TypeError; bad values (id 0 or out of range,
 * a timeout below 0 or above 365 days, values that cannot cross to a
 * script, missing named arguments) with InvalidArgumentError; all before any
 * native work.
 */
import { readFile } from 'node:fs/promises';

import { acquireToken, releaseToken, type SignalEntry } from './abort';
import {
  BrakeError,
  CancelledError,
  CompileError,
  EngineClosedError,
  HttpError,
  InvalidArgumentError,
  LlmError,
  ParseError,
  ScriptError,
  TimeoutError,
  UnknownFunctionError,
  ERROR_CLASS_BY_STATUS,
  STATUS_NAMES,
  type CallId,
  type CancelOrigin,
  type ScriptFrame,
  type StatusName,
} from './errors';
import { HostCall, hostEntries, isThenable, kStreamPart, type HostFunction } from './host';
import { checkHttpOptions, hostTransport, type HttpOptions } from './http';
import { LIMITS, native } from './native';
import { BrakeStream } from './stream';
import {
  BATCH_MORE,
  BATCH_VALUES_ARRAY,
  DRAIN_SLICE,
  EVENT_HOST_CALL,
  EVENT_HOST_CANCEL,
  EVENT_STREAM,
  REP_FALSE,
  REP_NULL,
  REP_NUMBER,
  REP_TRUE,
  type NativeBatchCallback,
  type NativeEngine,
  type NativeFailure,
  type NativeModule,
  type NativeDiagnostic,
  type NativeProgram,
} from './native-types';

/** Lowest id the engine assigns itself (2^52). */
export const AUTO_CALL_ID_BASE = 2 ** 52;

/** Options of {@link Engine.fromSource} and {@link Engine.fromFile}. */
export interface EngineOptions {
  /** Worker threads the engine starts and owns. Default 0: one per core. At most 256. */
  workerThreads?: number;
  /** Maximum script call depth before a stack-overflow ScriptError. Default 0: 1000. At most 100,000. */
  maxCallDepth?: number;
  /** File name used in diagnostics. Default '<source>' (fromFile: the path). */
  fileName?: string;
  /**
   * Bytes one call's script may allocate (strings, arrays, maps, instances,
   * its stack, its result); past it the call fails with ScriptError kind
   * 'out_of_memory' and other calls go on. Default 256 MiB; 0 = unlimited.
   */
  callMemoryLimit?: number;
  /** Bytes all calls of the engine may hold together (same rules). Default 1 GiB; 0 = unlimited. */
  engineMemoryLimit?: number;
  /**
   * Functions scripts may call, by name: `{ lookup: { signature: '(id: int) -> User?', fn } }`
   * (see lib/host.ts). Declared before the program compiles; a bad signature is a CompileError
   * whose diagnostics name the file `<host function NAME>`. Default: none.
   */
  host?: Record<string, HostFunction>;
  /**
   * Scripts' HTTP (`baml.http.fetch`): the `fetch` that performs requests,
   * a default timeout, the response size limit and the hosts scripts may
   * reach (see lib/http.ts and the README's "HTTP").
   */
  http?: HttpOptions;
  /**
   * The environment variables scripts may read (`env.NAME`, `env.get("NAME")`,
   * `env.get_or_panic("NAME")`), copied when the engine is made. Only these:
   * scripts never see the process environment unless it is passed here
   * (`env: { OPENAI_API_KEY: process.env.OPENAI_API_KEY }`, or knowingly
   * `env: process.env`). An `undefined` value leaves the name unset. Reading
   * a name that is not set is a ScriptError of kind 'missing_env' naming it
   * (`env.get` gives null). Default: none.
   */
  env?: Record<string, string | undefined>;
  /**
   * Lets scripts run `baml.sys.shell(command)`: `/bin/sh -c command` with stdin
   * from /dev/null, only the `env` option as its environment, in a process
   * group of its own; its stdout is the value, a nonzero exit a ScriptError of
   * kind 'shell_error' ("exit code N: <stderr excerpt>"). Aborting the call kills
   * the whole group. Default false: a call of it is a ScriptError of kind
   * 'shell_disabled'. Only for scripts you would let run commands yourself.
   */
  allowShell?: boolean;
}

/** A message part of a rendered prompt: text, or an image, audio clip, PDF or video. */
export type PromptPart =
  | { text: string }
  | { media: { kind: 'image' | 'audio' | 'pdf' | 'video'; url?: string; base64?: string; media_type?: string } };

/** What {@link Engine.renderPrompt} returns: the messages a client would be sent. */
export interface RenderedPrompt {
  /** The template set roles itself (`_.role(...)`); false: one message with the client's default role. */
  chat: boolean;
  /** The primitive client it was rendered for. */
  client: string;
  messages: Array<{ role: string; allow_duplicate_role: boolean; parts: PromptPart[] }>;
}

// A streamed call's id and slot, once started (Engine.stream).
interface Started {
  key: number | bigint;
  slot: number;
}

/** Options of {@link Engine.call}. */
export interface CallOptions {
  /** Aborting it cancels the call (CancelledError, origin 'signal', cause = signal.reason). Default: none. */
  signal?: AbortSignal;
  /** The call's id (bigint or safe-integer number, non-zero). Default: assigned by the engine. */
  callId?: CallId;
  /**
   * The engine's own deadline in milliseconds from admission (TimeoutError,
   * origin 'timeout'); a fraction is rounded up. Default 0: none. At most
   * 31,536,000,000 (365 days, BRAKE_MAX_TIMEOUT_MS): a larger one is refused
   * (InvalidArgumentError), never taken to mean "no deadline".
   */
  timeoutMs?: number;
  /** Tags of the call (as BAML's `tags` call option): what LLM prompts read as `ctx.tags.NAME`. Default: none. */
  tags?: Record<string, string>;
}

/** options.tags as the addon takes them: [names, values]; TypeError for a value that is not a string. */
function tagLists(tags: Record<string, string> | undefined): [string[], string[]] | undefined {
  if (tags === undefined) return undefined;
  if (typeof tags !== 'object' || tags === null) throw new TypeError('options.tags must be an object of strings');
  const names = Object.keys(tags);
  const values = names.map((n) => tags[n]);
  if (values.some((v) => typeof v !== 'string')) throw new TypeError('options.tags must be an object of strings');
  return [names, values as string[]];
}

/** A function of the program (engine.declarations). */
export interface FunctionDeclaration {
  readonly name: string;
  readonly params: readonly string[];
  /** Parameters and return type in source syntax: `(text: string, n: int?) -> Person[]` (a union with null as `T?`). */
  readonly signature: string;
  /** A client and a prompt: an LLM function. */
  readonly llm: boolean;
}

/**
 * Describes a program's functions for typed calls, e.g. an interface
 * `{ add(a: number, b: number): number }`. The default accepts any name,
 * any arguments and gives `unknown` results.
 */
export type FunctionMap = Record<string, (...args: any[]) => unknown>;

/** Arguments of function `K`: positional (an array) or named (an object keyed by parameter name). */
export type CallArgs<F, K extends keyof F> = F[K] extends (...args: infer A) => unknown
  ? A | Readonly<A> | Record<string, unknown>
  : never;

/** The resolved result type of function `K`. */
export type CallResult<F, K extends keyof F> = F[K] extends (...args: any[]) => infer R ? Awaited<R> : unknown;

const ORIGINS: readonly CancelOrigin[] = ['cancel', 'cancel', 'signal', 'timeout', 'close', 'parent'];
const EMPTY: readonly unknown[] = Object.freeze([]);
const MAX_U64 = (1n << 64n) - 1n;
const kCreate = Symbol('Engine.create');
const STATUS_OK = 0;
const STATUS_CANCELLED = STATUS_NAMES.indexOf('CANCELLED');
const STATUS_TIMEOUT = STATUS_NAMES.indexOf('TIMEOUT');
const STATUS_SCRIPT = STATUS_NAMES.indexOf('SCRIPT_ERROR');
const STATUS_HTTP = STATUS_NAMES.indexOf('HTTP_ERROR');
const STATUS_LLM = STATUS_NAMES.indexOf('LLM_ERROR');

// new Promise(capture) hands its resolving functions over without a closure per call.
const captured: { resolve: (value: any) => void; reject: (error: unknown) => void } = {
  resolve: () => {},
  reject: () => {},
};
function capture(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** A map key for an id: a number when safe, else a bigint. Returns undefined when invalid. */
function normaliseId(id: unknown): number | bigint | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id > 0 ? id : undefined;
  if (typeof id === 'bigint') {
    if (id <= 0n || id > MAX_U64) return undefined;
    return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
  }
  return undefined;
}

export class Engine<F extends object = FunctionMap> implements AsyncDisposable {
  readonly #native: NativeEngine;
  readonly #addon: NativeModule;
  readonly #params: Map<string, readonly string[]>;
  readonly #declarations: readonly FunctionDeclaration[];
  readonly #fnIndex: Map<string, number>;
  // In-flight calls, by slot (lib's own small integer per call, handed to the
  // addon and back with the completion): parallel arrays, so a call costs no
  // object or hash entry of its own. A settled call's slot goes to #free.
  readonly #resolves: Array<((value: any) => void) | undefined> = [];
  readonly #rejects: Array<((error: unknown) => void) | undefined> = [];
  readonly #signals: Array<SignalEntry | undefined> = [];
  readonly #ids: Array<number | bigint> = []; // the call's id (for host functions' context)
  readonly #free: number[] = [];
  readonly #streams = new Map<number, BrakeStream<any>>(); // streamed calls' streams, by slot
  // Completion slices written by the addon (layout in native-types.ts).
  readonly #meta = new Int32Array(2 * DRAIN_SLICE);
  readonly #nums = new Float64Array(DRAIN_SLICE);
  // Kept here (not only passed to the addon): the addon holds it weakly while
  // the engine is idle, so this field is what keeps it alive between calls.
  readonly #onBatch: NativeBatchCallback;
  #nextId = AUTO_CALL_ID_BASE;
  #closed = false;
  #closing: Promise<void> | undefined;
  // Host functions by index (the order of options.host), and the host calls
  // in flight by operation id.
  readonly #hostFns: ReadonlyArray<{ name: string; fn: HostFunction['fn'] }>;
  readonly #hostCalls = new Map<number, HostCall>();
  // The latest host error of each call slot that has one, for the cause of a
  // 'host_error' failure.
  readonly #hostErrors = new Map<number, unknown>();
  // While a slice is being settled (host functions run then, and may close).
  #inBatch = false;
  // Host answers not yet handed to the engine: sent together (one native
  // call, one wake-up per worker) at the end of the slice, or on a microtask
  // for answers that arrive later (promises settling in the same turn).
  #answerOps: number[] = [];
  #answerValues: unknown[] = [];
  #answerCalls: HostCall[] = [];
  readonly #flushAnswers = (): void => this.#sendAnswers();

  /** @internal Use {@link Engine.fromSource}, {@link Engine.fromFile}, {@link Engine.fromSourceSync} or {@link Engine.fromProgram}. */
  constructor(key: symbol, program: NativeProgram, host: HostEntry[], options: EngineOptions) {
    if (key !== kCreate) throw new TypeError('use Engine.fromSource() or Engine.fromFile()');
    const addon = native();
    // The HTTP transport answers baml.http.fetch's host calls, whose index
    // follows the declared functions' (in the order the program declared them).
    this.#hostFns = [
      ...host.map(([name, , fn]) => ({ name, fn })),
      { name: 'baml.http.fetch', fn: hostTransport(options.http?.fetch) },
    ];
    this.#addon = addon;
    const httpTransport = options.http?.transport ?? (options.http?.fetch === undefined && addon.httpNative ? 'native' : 'host');
    if (httpTransport !== 'host' && !addon.httpNative) {
      throw new InvalidArgumentError(`options.http.transport '${httpTransport}': this build of brake has no libcurl (see the README's HTTP)`);
    }
    const useNative = httpTransport !== 'host';
    const signatures = program.signatures();
    this.#params = new Map(signatures.map(([name, params]) => [name, params]));
    this.#declarations = Object.freeze(
      signatures.map(([name, params, signature, llm]) => Object.freeze({ name, params: Object.freeze(params), signature, llm })),
    );
    this.#fnIndex = new Map(signatures.map(([name], index) => [name, index]));
    // A flood of completions arrives in slices; the next slice is fetched on
    // a later turn so timers and I/O run in between (bounded stalls).
    const drainMore = (): void => this.#native.drain();
    this.#onBatch = (count, flags, ...payloads) => {
      this.#settle(count, flags & BATCH_VALUES_ARRAY ? (payloads[0] as unknown[]) : payloads);
      if (flags & BATCH_MORE) setImmediate(drainMore);
    };
    this.#native = new addon.Engine(
      program,
      {
        workerThreads: options.workerThreads ?? 0,
        maxCallDepth: options.maxCallDepth ?? 0,
        callMemoryLimit: options.callMemoryLimit,
        engineMemoryLimit: options.engineMemoryLimit,
        env: envEntries(options.env),
        allowShell: options.allowShell === true,
        http: {
          transport: !useNative,
          libcurlOnly: httpTransport === 'libcurl',
          ca: options.http?.ca,
          connectTimeoutMs: options.http?.connectTimeoutMs,
          maxRedirects: options.http?.maxRedirects,
          timeoutMs: options.http?.timeoutMs,
          maxResponseBytes: options.http?.maxResponseBytes,
          allowedHosts: options.http?.allowedHosts,
        },
      },
      this.#onBatch,
      this.#meta,
      this.#nums,
    );
  }

  /**
   * Compiles `source` (off the JS thread: a big program does not stall the
   * event loop) and starts an engine. Rejects with CompileError (every
   * diagnostic) on bad source.
   */
  static async fromSource<F extends object = FunctionMap>(
    source: string,
    options: EngineOptions = {},
  ): Promise<Engine<F>> {
    if (typeof source !== 'string') throw new TypeError('source must be a string');
    checkEngineOptions(options);
    const host = hostEntries(options.host);
    const compiled = await native().compileAsync(source, options.fileName ?? '<source>', declarations(host));
    return new Engine<F>(kCreate, programOf(compiled), host, options);
  }

  /** As {@link Engine.fromSource}, compiling on the calling thread; throws CompileError. */
  static fromSourceSync<F extends object = FunctionMap>(source: string, options: EngineOptions = {}): Engine<F> {
    if (typeof source !== 'string') throw new TypeError('source must be a string');
    checkEngineOptions(options);
    const host = hostEntries(options.host);
    const compiled = native().compile(source, options.fileName ?? '<source>', declarations(host));
    return new Engine<F>(kCreate, programOf(compiled), host, options);
  }

  /** Reads a .baml file and starts an engine for it (diagnostics name the path). */
  static async fromFile<F extends object = FunctionMap>(
    file: string,
    options: EngineOptions = {},
  ): Promise<Engine<F>> {
    if (typeof file !== 'string') throw new TypeError('path must be a string');
    checkEngineOptions(options);
    const source = await readFile(file, 'utf8');
    return Engine.fromSource<F>(source, { fileName: file, ...options });
  }

  /**
   * Compiles `source` once (off the JS thread) for several engines
   * ({@link Engine.fromProgram}). `host` declares the host functions'
   * signatures; each engine binds their implementations. Rejects with
   * CompileError.
   */
  static async compile(source: string, options: { fileName?: string; host?: Record<string, { signature: string }> } = {}): Promise<Program> {
    if (typeof source !== 'string') throw new TypeError('source must be a string');
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const host = hostEntries(
      options.host === undefined ? undefined : Object.fromEntries(Object.entries(options.host).map(([n, h]) => [n, { ...h, fn: () => undefined }])),
    );
    const decls = declarations(host);
    const compiled = programOf(await native().compileAsync(source, options.fileName ?? '<source>', decls));
    const program = new Program(kCreate);
    programs.set(program, { compiled, host: decls });
    return program;
  }

  /**
   * Starts an engine for a program {@link Engine.compile} made (no compile:
   * cheap). `options.host` binds every host function the program declares,
   * with the same signatures (InvalidArgumentError otherwise).
   */
  static fromProgram<F extends object = FunctionMap>(program: Program, options: EngineOptions = {}): Engine<F> {
    const compiled = programs.get(program);
    if (!compiled) throw new TypeError('program must come from Engine.compile()');
    checkEngineOptions(options);
    const given = new Map(hostEntries(options.host).map((e) => [e[0], e]));
    const host: HostEntry[] = [];
    for (const [name, signature] of compiled.host) {
      const entry = given.get(name);
      if (!entry) throw new InvalidArgumentError(`options.host.${name}: the program declares it; bind it here`);
      if (entry[1] !== signature) {
        throw new InvalidArgumentError(`options.host.${name}.signature ${JSON.stringify(entry[1])} is not the one the program was compiled with (${JSON.stringify(signature)})`);
      }
      host.push(entry);
      given.delete(name);
    }
    if (given.size) throw new InvalidArgumentError(`options.host.${[...given.keys()][0]}: the program was compiled without it`);
    return new Engine<F>(kCreate, compiled.compiled, host, options);
  }

  /** Names of the program's functions and their parameters, in source order. */
  get functions(): ReadonlyMap<string, readonly string[]> {
    return this.#params;
  }

  /**
   * The program's functions in source order, each with its parameters, its
   * signature in source syntax (`(text: string, n: int?) -> Person[]`) and
   * whether it is an LLM function.
   */
  get declarations(): readonly FunctionDeclaration[] {
    return this.#declarations;
  }

  /** Calls admitted and not yet finished (0 after close). */
  get liveCalls(): number {
    return this.#native.liveCalls();
  }

  /** Tasks scripts spawned (`spawn`, task groups, with_timeout) not yet torn down (0 once their calls settled). */
  get liveTasks(): number {
    return this.#native.liveTasks();
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Calls function `fn` with positional (array) or named (object) arguments.
   * Resolves with its result; rejects with CancelledError / TimeoutError /
   * ScriptError / ... (see lib/errors.ts). Never throws synchronously.
   */
  call<K extends keyof F & string>(
    fn: K,
    args?: CallArgs<F, K>,
    options?: CallOptions,
  ): Promise<CallResult<F, K>> {
    return this.#start(fn, args, options, undefined);
  }

  /**
   * Calls function `fn` as {@link Engine.call} does, streaming: returns at
   * once a {@link BrakeStream}, an async iterable of the call's events (each
   * LLM attempt's start, the reply's text deltas, partial values of the
   * return type; see lib/stream.ts for what a consumer may rely on) whose
   * `final` is the call's result. The LLM functions the call runs (it, or
   * those an expression function calls) ask their providers to stream.
   * Leaving the loop early, `cancel()`, `signal`, `timeoutMs` and `close()`
   * stop the call (final: CancelledError). Never throws: a call that cannot
   * start gives a stream whose `final` (and iteration) rejects.
   */
  stream<K extends keyof F & string>(
    fn: K,
    args?: CallArgs<F, K>,
    options?: CallOptions,
  ): BrakeStream<CallResult<F, K>> {
    const started: Started = { key: 0, slot: -1 };
    const final = this.#start(fn, args, options, started);
    const key = started.key;
    const stream = new BrakeStream<CallResult<F, K>>(final, key, () => {
      if (key !== 0 && !this.#closed) this.#native.cancel(key);
    });
    if (started.slot >= 0) this.#streams.set(started.slot, stream);
    return stream;
  }

  // Starts a call (`started` set: a streamed one, whose id and slot it gets).
  #start<K extends keyof F & string>(
    fn: K,
    args: CallArgs<F, K> | undefined,
    options: CallOptions | undefined,
    started: Started | undefined,
  ): Promise<CallResult<F, K>> {
    if (typeof fn !== 'string') return Promise.reject(new TypeError('function name must be a string'));
    let list: readonly unknown[];
    if (args === undefined || args === null) list = EMPTY;
    else if (Array.isArray(args)) list = args;
    else if (typeof args === 'object') {
      try {
        list = this.#named(fn, args as Record<string, unknown>);
      } catch (error) {
        return Promise.reject(error);
      }
    } else return Promise.reject(new TypeError('arguments must be an array or an object of named arguments'));

    let signal: AbortSignal | undefined;
    let timeoutMs = 0;
    let key: number | bigint | undefined;
    let tags: [string[], string[]] | undefined;
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) return Promise.reject(new TypeError('options must be an object'));
      signal = options.signal;
      if (options.tags !== undefined) {
        try {
          tags = tagLists(options.tags);
        } catch (error) {
          return Promise.reject(error);
        }
      }
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        return Promise.reject(new TypeError('options.signal must be an AbortSignal'));
      }
      if (options.timeoutMs !== undefined) {
        timeoutMs = options.timeoutMs;
        if (typeof timeoutMs !== 'number') return Promise.reject(new TypeError('options.timeoutMs must be a number'));
        if (!(timeoutMs >= 0 && timeoutMs <= LIMITS.maxTimeoutMs)) {
          return Promise.reject(
            new InvalidArgumentError(
              `options.timeoutMs must be a number from 0 (no deadline) to ${LIMITS.maxTimeoutMs} (365 days)`,
            ),
          );
        }
      }
      if (options.callId !== undefined) {
        const id = options.callId;
        if (typeof id !== 'number' && typeof id !== 'bigint') {
          return Promise.reject(new TypeError('options.callId must be a bigint or a number'));
        }
        key = normaliseId(id);
        if (key === undefined) {
          return Promise.reject(
            new InvalidArgumentError('options.callId must be a non-zero safe-integer number or a bigint below 2^64'),
          );
        }
      }
    }
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(
        new CancelledError(undefined, { cause: signal.reason, callId: key, origin: 'signal' }),
      );
    }
    if (this.#closed) return Promise.reject(new EngineClosedError());

    const entry = signal === undefined ? undefined : acquireToken(signal, this.#addon.Token);
    const token = entry?.token;
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#resolves.length;
    // A known function goes by index (no string crossing); an unknown name is
    // passed as is, for the native UNKNOWN_FUNCTION error in its usual order.
    const target = this.#fnIndex.get(fn) ?? fn;
    const auto = key === undefined;
    for (;;) {
      if (auto) key = this.#nextId++;
      try {
        const native = this.#native;
        if (started !== undefined) native.startStream(key!, slot, target, timeoutMs, token, tags, ...list);
        else if (list.length === 0) native.start(key!, slot, target, timeoutMs, token, tags);
        else if (list.length === 1) native.start(key!, slot, target, timeoutMs, token, tags, list[0]);
        else if (list.length === 2) native.start(key!, slot, target, timeoutMs, token, tags, list[0], list[1]);
        else native.start(key!, slot, target, timeoutMs, token, tags, ...list);
        break;
      } catch (error) {
        // An assigned id that a user happened to choose: take the next one.
        if (auto && (error as BrakeError)?.code === 'ERR_BRAKE_DUPLICATE_CALL_ID') continue;
        if (entry !== undefined) releaseToken(entry);
        this.#free.push(slot);
        // A new slot stays allocated (all three arrays cover it) for the next call.
        if (slot === this.#resolves.length) this.#setSlot(slot, undefined, undefined, undefined, 0);
        return Promise.reject(error);
      }
    }
    const promise = new Promise<CallResult<F, K>>(capture);
    this.#setSlot(slot, captured.resolve, captured.reject, entry, key!);
    if (started !== undefined) {
      started.key = key!;
      started.slot = slot;
    }
    return promise;
  }

  // Fills slot `slot` of the three parallel arrays (a new slot is their common length).
  #setSlot(
    slot: number,
    resolve: ((value: any) => void) | undefined,
    reject: ((error: unknown) => void) | undefined,
    entry: SignalEntry | undefined,
    id: number | bigint,
  ): void {
    this.#resolves[slot] = resolve;
    this.#rejects[slot] = reject;
    this.#signals[slot] = entry;
    this.#ids[slot] = id;
  }

  /**
   * The prompt LLM function `fn` would send for these arguments, without
   * calling the model: its template rendered for `options.client` (a
   * primitive client's name; default: the first client the function's plan
   * would ask; `options.tags`: ctx.tags), each message's role as that
   * client's provider sends it. It runs on the calling (JS) thread, so a
   * template that loops for long is stopped after `options.timeoutMs`
   * (default 1000; 0: none) with TimeoutError.
   * Synchronous. Throws UnknownFunctionError, InvalidArgumentError (not an
   * LLM function, bad arguments, unknown client) or ScriptError (the
   * template fails). Nothing is sent, so the client's API key may be missing.
   */
  renderPrompt<K extends keyof F & string>(
    fn: K,
    args?: CallArgs<F, K>,
    options?: { client?: string; tags?: Record<string, string>; timeoutMs?: number },
  ): RenderedPrompt {
    if (typeof fn !== 'string') throw new TypeError('function name must be a string');
    if (this.#closed) throw new EngineClosedError();
    let list: readonly unknown[];
    if (args === undefined || args === null) list = EMPTY;
    else if (Array.isArray(args)) list = args;
    else if (typeof args === 'object') list = this.#named(fn, args as Record<string, unknown>);
    else throw new TypeError('arguments must be an array or an object of named arguments');
    const client = options?.client;
    if (client !== undefined && typeof client !== 'string') throw new TypeError('options.client must be a string');
    const timeoutMs = options?.timeoutMs ?? 1000;
    if (typeof timeoutMs !== 'number') throw new TypeError('options.timeoutMs must be a number');
    return this.#native.renderPrompt(fn, list as unknown[], client, tagLists(options?.tags), timeoutMs) as RenderedPrompt;
  }

  /**
   * Parses `text`, a model's reply, into the return type of function `fn`
   * as its LLM calls would (BAML's `b.parse.Fn`): JSON found in prose or
   * markdown fences, common mistakes repaired, values coerced to the type.
   * For hosts that call models themselves. Runs synchronously on this
   * thread, stopped after `timeoutMs` (default 1000; 0: none) with a
   * TimeoutError. `partial`: the text is a prefix of a reply still
   * arriving; the result is the best partial value so far. Throws
   * ParseError (a ScriptError, kind 'parse_error', with `raw` and `path`)
   * when the text does not fit the type.
   */
  parse<K extends keyof F & string>(fn: K, text: string, options?: { partial?: boolean; timeoutMs?: number }): CallResult<F, K> {
    if (typeof fn !== 'string') throw new TypeError('function name must be a string');
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    if (this.#closed) throw new EngineClosedError();
    const partial = options?.partial ?? false;
    if (typeof partial !== 'boolean') throw new TypeError('options.partial must be a boolean');
    const timeoutMs = options?.timeoutMs ?? 1000;
    if (typeof timeoutMs !== 'number') throw new TypeError('options.timeoutMs must be a number');
    try {
      return this.#native.parse(fn, text, partial, timeoutMs) as CallResult<F, K>;
    } catch (error) {
      if (!(error instanceof ScriptError) || error instanceof ParseError) throw error;
      // "PATH: reason" from the parser (a key in the path may hold a colon, not ": ").
      const path = /^(\$.*?): /.exec(error.message)?.[1] ?? '$';
      throw new ParseError(`the text does not parse as the return type of '${fn}': ${error.message}`, text, path);
    }
  }

  /** Asks live call `callId` to stop. True when a live call was found (idempotent); false for unknown or finished ids. */
  cancel(callId: CallId): boolean {
    if (typeof callId !== 'number' && typeof callId !== 'bigint') throw new TypeError('callId must be a bigint or a number');
    const key = normaliseId(callId);
    if (key === undefined) {
      throw new InvalidArgumentError('callId must be a non-zero safe-integer number or a bigint below 2^64');
    }
    // A sleeping call on an idle worker is finished during brake_cancel and
    // its promise settled before this returns (InlineDelivery in the addon).
    return this.#native.cancel(key);
  }

  /**
   * Refuses new calls (EngineClosedError), cancels every live call (each
   * rejects with CancelledError, origin 'close', after its cleanup ran) and
   * joins the worker threads, off the JS thread: transfers and TLS sessions
   * shutting down never block the event loop. Resolves once every call has
   * settled and the threads are gone. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      const closing = this.#close();
      this.#closing = closing;
      // A close() that did not happen (it threw) may be tried again.
      closing.catch(() => {
        if (this.#closing === closing && !this.#closed) this.#closing = undefined;
      });
    }
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // From a host function (inside a slice): close once the slice is settled.
    while (this.#inBatch) await new Promise((resolve) => setImmediate(resolve));
    let joined: Promise<void>;
    try {
      joined = this.#native.close();
    } catch (error) {
      this.#closed = false; // not closed after all: a later close() tries again
      throw error;
    }
    await joined;
  }

  /**
   * The native HTTP transport's transfers in flight and the sockets it has
   * open (idle keep-alive connections included; a cancelled call's socket is
   * closed by its worker right after the call settles). Zeros with the host transport,
   * whose sockets belong to the host, and after close().
   */
  get httpStats(): { transfers: number; sockets: number } {
    return this.#native.httpStats();
  }

  /** Host-function calls waiting for their answer (0 when all have settled). */
  get pendingHostCalls(): number {
    return this.#native.pendingHostCalls();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #named(fn: string, args: Record<string, unknown>): unknown[] {
    const proto = Object.getPrototypeOf(args);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError('arguments must be an array or a plain object of named arguments');
    }
    const params = this.#params.get(fn);
    if (params === undefined) throw new UnknownFunctionError(`function '${fn}' is not defined`);
    for (const name of Object.keys(args)) {
      if (!params.includes(name)) throw new InvalidArgumentError(`function '${fn}' has no parameter '${name}'`);
    }
    return params.map((name) => {
      if (!Object.prototype.hasOwnProperty.call(args, name)) {
        throw new InvalidArgumentError(`missing argument '${name}' of function '${fn}'`);
      }
      return args[name];
    });
  }

  // Receives one slice of completions (layout in native-types.ts).
  //
  // Errors built here carry no JS frames (see lowerStackTraceLimit): the
  // only JS frames at this point are this callback's, which say nothing
  // about the call. ScriptError carries the script's own stack in `frames`.
  // The limit is lowered at the first failure and put back before any user
  // code runs in the slice (a host function, an abort listener) and at its end.
  #settle(count: number, values: unknown[]): void {
    const meta = this.#meta;
    const nums = this.#nums;
    const resolves = this.#resolves;
    const rejects = this.#rejects;
    const signals = this.#signals;
    const free = this.#free;
    let next = 0;
    let limit = 0; // Error.stackTraceLimit as found, while lowered
    let lowering = LIMIT_AS_FOUND;
    this.#inBatch = true;
    try {
      for (let k = 0; k < count; k++) {
        const slot = meta[2 * k];
        const code = meta[2 * k + 1];
        const kind = code >>> 24;
        if (kind === EVENT_STREAM) {
          const items = values[next++] as unknown[];
          this.#streams.get(slot)?.push(items);
          continue;
        }
        if (kind === EVENT_HOST_CALL || kind === EVENT_HOST_CANCEL) {
          if (lowering === LIMIT_LOWERED) {
            restoreStackTraceLimit(limit);
            lowering = LIMIT_AS_FOUND;
          }
          if (kind === EVENT_HOST_CANCEL) {
            this.#hostCancel(opKey(nums[k]), (code >> 8) & 0xff);
            continue;
          }
          const argc = (code >>> 16) & 0xff;
          const args = values.slice(next, next + argc);
          next += argc;
          this.#hostCall(opKey(nums[k]), code & 0xffff, slot, args, this.#ids[slot]!);
          continue;
        }
        const status = code & 0xff;
        let id: number | bigint = 0;
        if (status !== STATUS_OK) {
          id = nums[k];
          if (Number.isNaN(id)) id = values[next++] as bigint;
        }
        const rep = (code >>> 16) & 0xff;
        const payload =
          rep === REP_NUMBER ? nums[k] : rep === REP_NULL ? null : rep === REP_TRUE ? true : rep === REP_FALSE ? false : values[next++];
        const resolve = resolves[slot];
        const reject = rejects[slot]!;
        const entry = signals[slot];
        if (resolve === undefined) continue;
        resolves[slot] = undefined;
        rejects[slot] = undefined;
        signals[slot] = undefined;
        if (this.#streams.size > 0) this.#streams.delete(slot);
        free.push(slot);
        if (entry !== undefined) releaseToken(entry);
        let hostError: unknown;
        if (this.#hostErrors.size > 0) {
          hostError = this.#hostErrors.get(slot);
          this.#hostErrors.delete(slot);
        }
        if (status === STATUS_OK) {
          resolve(payload);
          continue;
        }
        if (lowering === LIMIT_AS_FOUND) {
          limit = Error.stackTraceLimit;
          lowering = lowerStackTraceLimit() ? LIMIT_LOWERED : LIMIT_FIXED;
        }
        let error: unknown;
        try {
          error = failure(id, status, (code >> 8) & 0xff, payload as NativeFailure | null, entry?.signal, hostError);
          if (lowering === LIMIT_LOWERED) setStackHeader(error as Error);
        } catch (thrown) {
          // Building the error failed (a RangeError at the stack's limit, a
          // patched global): the call still settles, with what was thrown.
          error = thrown;
        }
        reject(error);
      }
    } finally {
      if (lowering === LIMIT_LOWERED) restoreStackTraceLimit(limit);
      // Still inside the slice: a close() from a getter of an answer waits.
      try {
        if (this.#answerOps.length > 0) this.#sendAnswers();
      } finally {
        this.#inBatch = false;
      }
    }
  }

  // A script called host function `index` (operation `op`). `fn` runs now,
  // inside the slice; its answer goes back as soon as it is known (at once
  // for a plain value).
  //
  // Only a call that is still waiting after `fn` returned (a promise) is
  // listed in #hostCalls, where a later host cancel finds it to abort its
  // signal: that cancel is always a later event, in this slice or another,
  // so a plain answer never needs the map.
  #hostCall(op: number, index: number, slot: number, args: unknown[], callId: CallId): void {
    const host = this.#hostFns[index]!;
    const call = new HostCall(callId, host.name, slot);
    // The HTTP transport (the last host function) of a streamed LLM request.
    if (args[6] === true && index === this.#hostFns.length - 1) call[kStreamPart] = (bytes) => this.#native.hostPart(op, bytes);
    try {
      const result = host.fn(args, call);
      // A thenable's `then` may be a getter that throws: inside the try.
      if (isThenable(result)) {
        this.#hostCalls.set(op, call);
        Promise.resolve(result).then(
          (value) => this.#hostAnswered(op, value),
          (error) => this.#hostFailed(op, error),
        );
      } else {
        this.#queueAnswer(op, result, call);
      }
    } catch (error) {
      this.#hostCalls.delete(op);
      this.#failHostCall(op, error, call);
    }
  }

  #hostAnswered(op: number, value: unknown): void {
    const call = this.#hostCalls.get(op);
    if (call === undefined) return; // cancelled, or the engine closed: dropped
    this.#hostCalls.delete(op);
    this.#queueAnswer(op, value, call);
  }

  #queueAnswer(op: number, value: unknown, call: HostCall): void {
    if (this.#answerOps.length === 0 && !this.#inBatch) queueMicrotask(this.#flushAnswers);
    this.#answerOps.push(op);
    this.#answerValues.push(value);
    this.#answerCalls.push(call);
  }

  #sendAnswers(): void {
    const ops = this.#answerOps;
    const values = this.#answerValues;
    const calls = this.#answerCalls;
    if (ops.length === 0) return;
    this.#answerOps = [];
    this.#answerValues = [];
    this.#answerCalls = [];
    const refused = this.#native.hostCompleteMany(Float64Array.from(ops), values);
    if (refused === undefined) return;
    for (const [i, error] of refused) {
      // No script value for it (a function, a cycle, ...). The cause is kept
      // only when the call still waits (its completion cannot come before).
      const call = calls[i]!;
      const why = error instanceof Error ? error.message : String(error);
      const taken = this.#native.hostFail(
        ops[i]!,
        `host function '${call.functionName}' returned a value that cannot cross to a script: ${why}`,
        'ERR_BRAKE_INVALID_ARGUMENT',
      );
      if (taken) this.#hostErrors.set(call.slot, error);
    }
  }

  #hostFailed(op: number, error: unknown): void {
    const call = this.#hostCalls.get(op);
    if (call === undefined) return;
    this.#hostCalls.delete(op);
    this.#failHostCall(op, error, call);
  }

  #failHostCall(op: number, error: unknown, call: HostCall): void {
    let message: string;
    let code: unknown;
    try {
      message = error instanceof Error ? error.message : String(error);
      code = (error as { code?: unknown } | null)?.code;
    } catch {
      message = 'the host function failed';
    }
    if (this.#native.hostFail(op, message, typeof code === 'string' ? code : undefined)) {
      this.#hostErrors.set(call.slot, error);
    }
  }

  // The call stopped waiting for operation `op`: its signal aborts with the
  // call's cancellation reason (what the call itself rejects with, or its
  // AbortSignal's reason).
  #hostCancel(op: number, originCode: number): void {
    const call = this.#hostCalls.get(op);
    if (call === undefined) return;
    this.#hostCalls.delete(op);
    const signal = this.#signals[call.slot]?.signal;
    const origin = ORIGINS[originCode] ?? 'cancel';
    let reason: unknown;
    if (origin === 'signal' && signal !== undefined) reason = signal.reason;
    else {
      // Built stackless like the call's own error; the host's abort
      // listeners then run with Error.stackTraceLimit as it was.
      const limit = Error.stackTraceLimit;
      const lowered = lowerStackTraceLimit();
      try {
        const options = { callId: call.callId, origin };
        reason = origin === 'timeout' ? new TimeoutError(undefined, options) : new CancelledError(undefined, options);
        if (lowered) setStackHeader(reason as Error);
      } finally {
        if (lowered) restoreStackTraceLimit(limit);
      }
    }
    try {
      call.abort(reason);
    } catch (error) {
      // An abort listener of the host's threw: report it like Node would,
      // without stranding the rest of the slice.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

// An operation id as a Map key: a small integer (read from a Float64Array it
// would be a heap number, slower to hash) while it fits one.
function opKey(op: number): number {
  return op <= 0x3fffffff ? op | 0 : op;
}

// Errors the engine builds for a settling call (100k of them when a shared
// signal aborts) capture no JS frames: those would be the delivery
// callback's, saying nothing about the call, and capturing them was most of
// the cost of settling. Error.stackTraceLimit is set to a non-number around
// each construction only (so V8 captures nothing at all: half the cost of
// a limit of 0) and put back at once, so user code (host functions, abort
// listeners, promise reactions) never sees it changed; the error's `stack`
// is then its header, "AbortError: The operation was aborted", as with a
// limit of 0. lowerStackTraceLimit is false where the limit cannot be set
// (read-only in a locked-down realm: node --frozen-intrinsics, SES), and
// errors keep their stacks there.
function lowerStackTraceLimit(): boolean {
  try {
    (Error as { stackTraceLimit: unknown }).stackTraceLimit = undefined;
    return true;
  } catch {
    return false;
  }
}

// Error.stackTraceLimit during a slice: as the slice found it, lowered, or
// found read-only (then errors keep their stacks).
const LIMIT_AS_FOUND = 0;
const LIMIT_LOWERED = 1;
const LIMIT_FIXED = 2;

// Never throws (a patched setter may refuse): an exception escaping onBatch
// would strand the next engine's completions in the same delivery.
function restoreStackTraceLimit(limit: number): void {
  try {
    Error.stackTraceLimit = limit;
  } catch {
    // left as it is; nothing better to do here
  }
}

// `stack` as V8 writes it with no frames: "name: message" (or the name).
let lastHeader = { name: '', message: '', stack: '' };
function setStackHeader(error: Error): void {
  const { name, message } = error;
  if (name !== lastHeader.name || message !== lastHeader.message) {
    lastHeader = { name, message, stack: message === '' ? String(name) : `${String(name)}: ${String(message)}` };
  }
  error.stack = lastHeader.stack;
}

function failure(
  id: number | bigint,
  status: number,
  originCode: number,
  f: NativeFailure | null,
  signal: AbortSignal | undefined,
  hostError: unknown,
): Error {
  if (status === STATUS_CANCELLED || status === STATUS_TIMEOUT) {
    const origin = status === STATUS_TIMEOUT ? 'timeout' : (ORIGINS[originCode] ?? 'cancel');
    const options = origin === 'signal' ? { callId: id, origin, cause: signal?.reason } : { callId: id, origin };
    return status === STATUS_TIMEOUT
      ? new TimeoutError(undefined, options)
      : new CancelledError(undefined, options);
  }
  const [message, kind, flat] = f!;
  if (status === STATUS_SCRIPT || status === STATUS_HTTP) {
    const frames: ScriptFrame[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) frames.push({ function: flat[i] as string, line: flat[i + 1] as number });
    const http = f![4];
    if (status === STATUS_HTTP) {
      return new HttpError(message, { kind, frames, callId: id, status: http?.[0], url: http?.[1], body: http?.[2] });
    }
    const error = new ScriptError(message, kind, frames, id, f![3] || undefined, f![6]);
    if (kind === 'host_error' && hostError !== undefined) {
      Object.defineProperty(error, 'cause', { value: hostError, writable: true, configurable: true });
    }
    return error;
  }
  if (status === STATUS_LLM) {
    const attempts = (f![5] ?? []).map(([client, provider, status, error, durationMs, body]) => ({
      client,
      provider,
      status: status || undefined,
      error,
      durationMs,
      body,
    }));
    return new LlmError(message, attempts, id);
  }
  const name = STATUS_NAMES[status] as Exclude<StatusName, 'OK'> | undefined;
  const Cls = name ? ERROR_CLASS_BY_STATUS[name] : BrakeError;
  const error = new Cls(message || `call failed with status ${name ?? status}`);
  if (Cls === BrakeError) Object.defineProperty(error, 'code', { value: `ERR_BRAKE_${name ?? 'INTERNAL'}` });
  return error;
}

/** options.env as [names, values] (unset names left out). */
function envEntries(env: EngineOptions['env']): [string[], string[]] {
  const names: string[] = [];
  const values: string[] = [];
  if (env) {
    for (const name of Object.keys(env)) {
      const value = env[name];
      if (value === undefined) continue;
      names.push(name);
      values.push(value);
    }
  }
  return [names, values];
}

type HostEntry = [name: string, signature: string, fn: HostFunction['fn']];

/** A program's declarations, types in source syntax (brake.h: brake_program_describe). */
export interface ProgramDescription {
  functions: Array<{ name: string; params: Array<{ name: string; type: string }>; returns: string; llm: boolean }>;
  classes: Array<{ name: string; fields: Array<{ name: string; type: string; alias?: string; description?: string }> }>;
  enums: Array<{ name: string; variants: Array<{ name: string; alias?: string; skip?: boolean }> }>;
  /** Recursive type aliases (`type Json = ...`); other aliases are their targets. */
  aliases: Array<{ name: string; type: string }>;
}

/** A compiled program, for several engines (Engine.compile, Engine.fromProgram). */
export class Program {
  /** @internal Use {@link Engine.compile}. */
  constructor(key: symbol) {
    if (key !== kCreate) throw new TypeError('use Engine.compile()');
  }

  /** The program's functions, classes, enums and recursive aliases, for tools such as code generators. */
  describe(): ProgramDescription {
    return JSON.parse(programs.get(this)!.compiled.describe()) as ProgramDescription;
  }
}
const programs = new WeakMap<Program, { compiled: NativeProgram; host: Array<[string, string]> }>();

function declarations(host: HostEntry[]): Array<[string, string]> {
  return host.map(([name, signature]) => [name, signature]);
}

/** The compiled program, or CompileError with every diagnostic. */
function programOf(compiled: NativeProgram | NativeDiagnostic[]): NativeProgram {
  if (Array.isArray(compiled)) {
    throw new CompileError(compiled.map(([file, line, column, message]) => ({ file, line, column, message })));
  }
  return compiled;
}

function checkEngineOptions(options: EngineOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  checkHttpOptions(options.http);
  if (options.env !== undefined) {
    if (typeof options.env !== 'object' || options.env === null || Array.isArray(options.env)) {
      throw new TypeError('options.env must be an object of strings ({ NAME: "value" })');
    }
    for (const name of Object.keys(options.env)) {
      const value = options.env[name];
      if (value !== undefined && typeof value !== 'string') throw new TypeError(`options.env.${name} must be a string`);
    }
  }
  const { workerThreads, maxCallDepth, fileName } = options;
  if (workerThreads !== undefined) {
    if (typeof workerThreads !== 'number') throw new TypeError('options.workerThreads must be a number');
    if (!Number.isInteger(workerThreads) || workerThreads < 0 || workerThreads > LIMITS.maxWorkerThreads) {
      throw new InvalidArgumentError(
        `options.workerThreads must be an integer from 0 (one per core) to ${LIMITS.maxWorkerThreads}`,
      );
    }
  }
  if (maxCallDepth !== undefined) {
    if (typeof maxCallDepth !== 'number') throw new TypeError('options.maxCallDepth must be a number');
    if (!Number.isInteger(maxCallDepth) || maxCallDepth < 0 || maxCallDepth > LIMITS.maxCallDepth) {
      throw new InvalidArgumentError(
        `options.maxCallDepth must be an integer from 0 (default 1000) to ${LIMITS.maxCallDepth}`,
      );
    }
  }
  if (fileName !== undefined && typeof fileName !== 'string') throw new TypeError('options.fileName must be a string');
  if (options.allowShell !== undefined && typeof options.allowShell !== 'boolean') {
    throw new TypeError('options.allowShell must be a boolean');
  }
  for (const name of ['callMemoryLimit', 'engineMemoryLimit'] as const) {
    const bytes = options[name];
    if (bytes === undefined) continue;
    if (typeof bytes !== 'number') throw new TypeError(`options.${name} must be a number`);
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new InvalidArgumentError(`options.${name} must be a whole number of bytes >= 0 (0 = unlimited)`);
    }
  }
}
