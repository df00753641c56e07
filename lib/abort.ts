/**
 * The one helper that owns abort listeners (undici's model).
 *
 * Each AbortSignal in use by live calls has ONE native brake_token and ONE
 * 'abort' listener, however many calls share it; aborting cancels the token,
 * which cancels every live call started with it (origin 'signal'). The entry
 * is reference-counted by live calls and removed (listener and token
 * dropped) when the last of them settles, on every settle path. So a signal
 * shared by a million calls carries one listener at most and never triggers
 * MaxListenersExceededWarning, and no AbortController or AbortSignal.any is
 * created per call.
 *
 * Callers check `signal.aborted` first: an already-aborted signal is rejected
 * before any native work and never reaches acquire().
 */
import type { NativeToken } from './native-types';

/** A signal in use: its token, listener and live-call count. Calls keep the entry itself. */
export interface SignalEntry {
  readonly signal: AbortSignal;
  readonly token: NativeToken;
  calls: number;
  readonly listener: () => void;
  /** The drain of the engine that first used it; any other engine's in `more`. */
  readonly drain: () => void;
  more: Set<() => void> | undefined;
}

const entries = new WeakMap<AbortSignal, SignalEntry>();

// A small cancel (a signal shared by few calls) is finished at once by the
// native side when the calls' workers are idle (see the stand-in rule in
// native/src/runtime/worker.h); draining the entry's engines right after it
// settles those promises inside abort() itself, without waiting for the
// event loop to come round.
const SETTLE_NOW_MAX = 16;

/** The entry (token) for `signal`, counting one more live call on it (of the engine that `drain`s). */
export function acquireToken(signal: AbortSignal, Token: new () => NativeToken, drain: () => void): SignalEntry {
  let entry = entries.get(signal);
  if (entry === undefined) {
    const created: SignalEntry = {
      signal,
      token: new Token(),
      calls: 0,
      listener: () => onAbort(created),
      drain,
      more: undefined,
    };
    entry = created;
    entries.set(signal, entry);
    signal.addEventListener('abort', entry.listener, { once: true });
  } else if (entry.drain !== drain) {
    (entry.more ??= new Set()).add(drain);
  }
  entry.calls++;
  return entry;
}

function onAbort(entry: SignalEntry): void {
  if (entry.token.cancel() > SETTLE_NOW_MAX) return;
  entry.drain();
  entry.more?.forEach((drain) => drain());
}

/** One live call on the entry's signal settled (or failed to start). */
export function releaseToken(entry: SignalEntry): void {
  if (--entry.calls === 0) {
    // After an abort the once-listener is gone already.
    if (!entry.signal.aborted) entry.signal.removeEventListener('abort', entry.listener);
    if (entries.get(entry.signal) === entry) entries.delete(entry.signal);
  }
}

/** Live calls using `signal` (for tests). */
export function signalUsers(signal: AbortSignal): number {
  return entries.get(signal)?.calls ?? 0;
}
