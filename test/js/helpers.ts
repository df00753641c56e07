// Shared programs and helpers for the vitest suites. Tests go through the
// public API (lib/index.ts, the same code dist/ is compiled from).
import { Engine, type EngineOptions } from '../../lib/index';

export const PROGRAM = `
function add(a: int, b: int) -> int { a + b }
function quick() -> int { 42 }
function nap(ms: int) -> int {
  baml.sys.sleep(ms);
  ms
}
function sleep_then(ms: int, v: int) -> int {
  baml.sys.sleep(ms);
  v
}
function two_naps(first: int, second: int) -> int {
  baml.sys.sleep(first);
  baml.sys.sleep(second);
  2
}
function spin() -> int {
  let n = 0;
  while (true) {
    n += 1;
  }
  n
}
function cooperative() -> int {
  let n = 0;
  while (!baml.sys.cancellation_requested()) {
    n += 1;
  }
  n
}
function requested() -> bool {
  baml.sys.cancellation_requested()
}
function compute(n: int) -> int {
  let s = 0;
  for (let i = 0; i < n; i += 1) {
    s += i;
  }
  s
}
function fail(message: string) -> int {
  baml.sys.panic(message);
  0
}
function outer(message: string) -> int {
  fail(message) + 1
}
function echo_s(s: string) -> string { s }
function echo_f(x: float) -> float { x }
function echo_b(b: bool) -> bool { b }
function echo_ints(xs: int[]) -> int[] { xs }
function echo_map(m: map<string, int>) -> map<string, int> { m }
function echo_nested(m: map<string, int[]>) -> map<string, int[]> { m }
function echo_opt(x: int?) -> int? { x }
function big() -> int { 9223372036854775807 }
function half(x: float) -> float { x / 2.0 }
`;

export async function engine(options: EngineOptions = {}): Promise<Engine> {
  return Engine.fromSource(PROGRAM, { workerThreads: 2, ...options });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles to {value} or {error}; never rejects. */
export async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: any }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

/** What the tests read of test/support/http-server.mjs's record of requests. */
interface RecordingServer {
  requests: Array<{ url: string; connection: { closedAt?: number } }>;
}

/** Resolves once `server` has received `n` requests whose URL contains `tag`; throws after `ms`. */
export async function requestsArrived(server: RecordingServer, tag: string, n: number, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (server.requests.filter((r) => r.url.includes(tag)).length < n) {
    if (performance.now() > deadline) throw new Error(`fewer than ${n} requests with ${tag} arrived`);
    await sleep(5);
  }
}

/** Whether `server` saw the connection of every request whose URL contains `tag` close within `ms`. */
export async function connectionsClosed(server: RecordingServer, tag: string, ms = 5000): Promise<boolean> {
  const mine = server.requests.filter((r) => r.url.includes(tag));
  const deadline = performance.now() + ms;
  while (mine.some((r) => r.connection.closedAt === undefined)) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}
