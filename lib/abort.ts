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
}

const entries = new WeakMap<AbortSignal, SignalEntry>();

/** The entry (token) for `signal`, counting one more live call on it. */
export function acquireToken(signal: AbortSignal, Token: new () => NativeToken): SignalEntry {
  let entry = entries.get(signal);
  if (entry === undefined) {
    const token = new Token();
    // A small cancel (a signal shared by few calls) is finished at once by
    // the native side when the calls' workers are idle, and the addon
    // delivers those completions before cancel() returns: the promises
    // settle inside abort() itself (see InlineDelivery in native/addon/addon.h).
    entry = { signal, token, calls: 0, listener: () => token.cancel() };
    entries.set(signal, entry);
    signal.addEventListener('abort', entry.listener, { once: true });
  }
  entry.calls++;
  return entry;
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
