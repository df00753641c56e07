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

interface SignalEntry {
  token: NativeToken;
  calls: number;
  listener: () => void;
}

const entries = new WeakMap<AbortSignal, SignalEntry>();

/** The token for `signal`, counting one more live call on it. */
export function acquireToken(signal: AbortSignal, Token: new () => NativeToken): NativeToken {
  let entry = entries.get(signal);
  if (entry === undefined) {
    const token = new Token();
    const listener = (): void => {
      token.cancel();
    };
    entry = { token, calls: 0, listener };
    entries.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  entry.calls++;
  return entry.token;
}

/** One live call on `signal` settled (or failed to start). */
export function releaseToken(signal: AbortSignal): void {
  const entry = entries.get(signal);
  if (entry === undefined) return;
  if (--entry.calls === 0) {
    signal.removeEventListener('abort', entry.listener);
    entries.delete(signal);
  }
}

/** Live calls using `signal` (for tests). */
export function signalUsers(signal: AbortSignal): number {
  return entries.get(signal)?.calls ?? 0;
}
