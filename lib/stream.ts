/**
 * Streams: what {@link Engine.stream} returns. The call's events (attempts,
 * text deltas, partial values: brake.h "streams") as an async iterable, its
 * result as `final`, and `cancel()`.
 *
 * Buffering. Events arrive whenever the engine delivers them, whether or not
 * anyone is reading. A consumer slower than the model never makes the buffer
 * grow without bound: a partial value not yet read is replaced by the newer
 * one (which goes to the end, after the deltas it covers); a watched
 * variable's unread values are replaced by those of a newer delivery (and
 * past MAX_BUFFERED_WATCHES unread watch events, by each newer value); and past
 * MAX_BUFFERED_DELTAS unread deltas a new delta is appended to the last
 * unread one of the same attempt (text is never dropped). Attempts are never
 * merged. The final value is never lost: it is `final`'s. A stream nobody
 * reads at all keeps at most MAX_UNREAD_EVENTS (the oldest go first): only
 * a call running thousands of LLM calls gets there.
 *
 * Stopping. Leaving a `for await` loop early (`break`, `return`, a throw in
 * its body: the iterator's return()), `cancel()`, the call's `signal`, its
 * `timeoutMs` and `engine.close()` each cancel the call (its socket closes at
 * once) and settle `final` with CancelledError. After that the iterator
 * yields nothing more.
 */
import type { CallId } from './errors';

/** One event of a stream. */
export type StreamEvent<P = unknown> =
  /** An attempt of LLM function `function` starts (numbered from 1 per LLM call): a retry or a fallback starts over. */
  | { kind: 'attempt'; function: string; client: string; attempt: number }
  /** Text of the reply arrived; an attempt's deltas, joined, are its reply so far. */
  | { kind: 'delta'; function: string; client: string; attempt: number; text: string }
  /** The best partial value of the return type so far (`engine.parse(fn, text, { partial: true })` of the text so far). */
  | { kind: 'partial'; function: string; value: P }
  /**
   * A `watch let` variable of function `function` changed (its first value when declared, then each change
   * while in scope, through any alias); an unread one is replaced by the newer value of the same variable.
   */
  | { kind: 'watch'; function: string; name: string; value: unknown };

/** Unread deltas kept apart before new ones are joined to the last. */
export const MAX_BUFFERED_DELTAS = 256;
/** Unread watch events kept apart before a variable's unread one is replaced by its newer value. */
export const MAX_BUFFERED_WATCHES = 256;
/** Unread events of any kind kept (attempts are never merged). */
export const MAX_UNREAD_EVENTS = 4096;

const KIND_ATTEMPT = 1;
const KIND_DELTA = 2;
const KIND_PARTIAL = 3;
const KIND_WATCH = 4;

/** @internal How the engine feeds a stream (its slot's sink). */
export interface StreamSink {
  push(items: unknown[]): void;
}

export class BrakeStream<T = unknown, P = unknown> implements AsyncIterable<StreamEvent<P>> {
  /** The call's result, as `engine.call` would give it (CancelledError once the stream was stopped). */
  readonly final: Promise<T>;
  /** The call's id (for `engine.cancel`, or another language's `brake_cancel`). */
  readonly callId: CallId;
  readonly #cancel: () => void;
  readonly #buffer: StreamEvent<P>[] = [];
  #deltas = 0;
  #watches = 0; // unread watch events
  // The attempt the next deltas belong to.
  #function = '';
  #client = '';
  #attempt = 0;
  #settled = false;
  #stopped = false;
  #failure: { error: unknown } | undefined;
  #waiters: Array<() => void> = [];
  #iterating = false;

  /** @internal Made by {@link Engine.stream}. */
  constructor(final: Promise<T>, callId: CallId, cancel: () => void) {
    this.callId = callId;
    this.#cancel = cancel;
    this.final = final;
    // Iteration reports a failure itself; `final` need not be awaited too.
    final.then(
      () => this.#end(undefined),
      (error: unknown) => this.#end({ error }),
    );
  }

  /**
   * Cancels the call and ends the iteration (idempotent). No effect once the
   * call has settled: its events can still be read.
   */
  cancel(): void {
    if (!this.#settled) this.#stop();
  }

  /** @internal The engine's events for this call (native/addon/slice.h's stream entry). */
  push(items: unknown[]): void {
    if (this.#stopped) return;
    if (this.#watches > 0) this.#dropOlderWatches(items);
    for (let i = 0; i < items.length; ) {
      const kind = items[i] as number;
      if (kind === KIND_ATTEMPT) {
        this.#function = items[i + 1] as string;
        this.#client = items[i + 2] as string;
        this.#attempt = items[i + 3] as number;
        this.#buffer.push({ kind: 'attempt', function: this.#function, client: this.#client, attempt: this.#attempt });
        i += 4;
      } else if (kind === KIND_DELTA) {
        this.#delta(items[i + 1] as string);
        i += 2;
      } else if (kind === KIND_PARTIAL) {
        this.#partial(items[i + 1] as P);
        i += 2;
      } else if (kind === KIND_WATCH) {
        this.#watch(items[i + 1] as string, items[i + 2] as string, items[i + 3]);
        i += 4;
      } else {
        break; // (a kind this version does not know: the layout is the addon's)
      }
    }
    while (this.#buffer.length > MAX_UNREAD_EVENTS) this.#taken(this.#buffer.shift()!);
    this.#wakeReader();
  }

  #delta(text: string): void {
    const buffer = this.#buffer;
    if (this.#deltas >= MAX_BUFFERED_DELTAS) {
      for (let i = buffer.length - 1; i >= 0; i--) {
        const ev = buffer[i]!;
        if (ev.kind === 'attempt') break;
        if (ev.kind === 'delta') {
          ev.text += text;
          // A partial after it no longer covers the text before it: the next one will.
          if (i < buffer.length - 1 && buffer[buffer.length - 1]!.kind === 'partial') buffer.pop();
          return;
        }
      }
    }
    buffer.push({ kind: 'delta', function: this.#function, client: this.#client, attempt: this.#attempt, text });
    this.#deltas++;
  }

  #partial(value: P): void {
    const buffer = this.#buffer;
    for (let i = buffer.length - 1; i >= 0; i--) {
      const ev = buffer[i]!;
      if (ev.kind === 'attempt') break;
      if (ev.kind === 'partial') {
        buffer.splice(i, 1);
        break;
      }
    }
    buffer.push({ kind: 'partial', function: this.#function, value });
  }

  // A batch with watch events replaces the unread ones of the same variables
  // from earlier batches: what a reader that falls behind holds of each
  // variable is at most one batch's (which the engine bounds).
  #dropOlderWatches(items: unknown[]): void {
    const keys = new Set<string>();
    for (let i = 0; i < items.length; ) {
      const kind = items[i] as number;
      if (kind === KIND_WATCH) keys.add(`${items[i + 1] as string}\u0000${items[i + 2] as string}`);
      i += kind === KIND_ATTEMPT || kind === KIND_WATCH ? 4 : kind === KIND_DELTA || kind === KIND_PARTIAL ? 2 : items.length;
    }
    if (keys.size === 0) return;
    const kept = this.#buffer.filter((ev) => ev.kind !== 'watch' || !keys.has(`${ev.function}\u0000${ev.name}`));
    this.#watches -= this.#buffer.length - kept.length;
    this.#buffer.splice(0, this.#buffer.length, ...kept);
  }

  #watch(fn: string, name: string, value: unknown): void {
    const buffer = this.#buffer;
    if (this.#watches >= MAX_BUFFERED_WATCHES) {
      for (let i = buffer.length - 1; i >= 0; i--) {
        const ev = buffer[i]!;
        if (ev.kind === 'watch' && ev.function === fn && ev.name === name) {
          buffer.splice(i, 1);
          this.#watches--;
          break;
        }
      }
    }
    buffer.push({ kind: 'watch', function: fn, name, value });
    this.#watches++;
  }

  // An event leaves the buffer.
  #taken(ev: StreamEvent<P>): void {
    if (ev.kind === 'delta') this.#deltas--;
    else if (ev.kind === 'watch') this.#watches--;
  }

  #end(failure: { error: unknown } | undefined): void {
    this.#settled = true;
    this.#failure = failure;
    this.#wakeReader();
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#buffer.length = 0;
    this.#deltas = 0;
    this.#watches = 0;
    if (!this.#settled) this.#cancel();
    this.#wakeReader();
  }

  #wakeReader(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** The events, once: a stream has one reader (a second iterator is a TypeError). */
  [Symbol.asyncIterator](): AsyncIterator<StreamEvent<P>> {
    if (this.#iterating) throw new TypeError('a stream can be iterated only once');
    this.#iterating = true;
    return {
      next: () => this.#next(),
      return: async () => {
        this.#stop();
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<StreamEvent<P>>> {
    for (;;) {
      if (this.#stopped) return { done: true, value: undefined };
      const ev = this.#buffer.shift();
      if (ev !== undefined) {
        this.#taken(ev);
        return { done: false, value: ev };
      }
      if (this.#settled) {
        this.#stopped = true;
        if (this.#failure !== undefined) throw this.#failure.error;
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve)); // (next() may be called again before this settles)
    }
  }
}
