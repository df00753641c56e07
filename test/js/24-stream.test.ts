// Streaming (engine.stream) against the mock LLM server: the events and what
// a consumer may rely on (an attempt before each attempt's deltas, deltas
// that join into the reply, partial values of the return type), both
// providers' stream shapes, the first-delta rule for retries, every way of
// stopping a stream at every phase (before the first byte, between events,
// during a retry backoff, after the final value) with the socket closed at
// once, slow consumers (bounded buffer, nothing final lost) and many streams
// at once. Runs over the native transport and over the host transport.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BrakeStream, CancelledError, Engine, LlmError, MAX_BUFFERED_DELTAS, MAX_BUFFERED_WATCHES, TimeoutError, httpNativeAvailable } from '../../lib/index';
import type { EngineOptions, StreamEvent } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle, sleep } from './helpers';

type Mock = Awaited<ReturnType<typeof startMockLlm>>;
type Rec = { path: string; body: any; arrivedAt: number; closedAt?: number };

let mock: Mock;
beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock?.close();
});

const of = (model: string): Rec[] => mock.requests.filter((r: Rec) => r.body?.model === model);

const SOURCE = (m: string) => `
class Person {
  name string
  age int
}
retry_policy Quick {
  max_retries 2
  strategy { type constant_delay delay_ms 10 }
}
retry_policy Slow {
  max_retries 2
  strategy { type constant_delay delay_ms 5000 }
}
client<llm> C { provider openai-generic options { base_url env.MOCK_V1 model "${m}" api_key "k" } }
client<llm> Q { provider openai-generic retry_policy Quick options { base_url env.MOCK_V1 model "${m}" api_key "k" } }
client<llm> S { provider openai-generic retry_policy Slow options { base_url env.MOCK_V1 model "${m}" api_key "k" } }
client<llm> A { provider anthropic options { base_url env.MOCK model "${m}" api_key "k" } }
client<llm> W { provider openai-generic options { base_url env.MOCK_V1 model "${m}" api_key "k" supports_streaming false } }
client<llm> OA { provider openai options { base_url env.MOCK_V1 model "${m}" api_key "k" } }
client<llm> Z { provider azure-openai options { base_url env.MOCK_V1 api_version "2024-10-21" model "${m}" api_key "k" } }
client<llm> O { provider ollama options { base_url env.MOCK_V1 model "${m}" } }
client<llm> T { provider openai-generic retry_policy Quick options { base_url env.MOCK_V1 model "${m}" api_key "k" http { time_to_first_token_timeout_ms 150 idle_timeout_ms 150 } } }
function Extract(t: string) -> Person { client C prompt #"{{ t }}"# }
function ExtractQ(t: string) -> Person { client Q prompt #"{{ t }}"# }
function ExtractS(t: string) -> Person { client S prompt #"{{ t }}"# }
function ExtractA(t: string) -> Person { client A prompt #"{{ t }}"# }
function ExtractW(t: string) -> Person { client W prompt #"{{ t }}"# }
function Say(t: string) -> string { client C prompt #"{{ t }}"# }
function ExtractOA(t: string) -> Person { client OA prompt #"{{ t }}"# }
function ExtractZ(t: string) -> Person { client Z prompt #"{{ t }}"# }
function ExtractO(t: string) -> Person { client O prompt #"{{ t }}"# }
function ExtractT(t: string) -> Person { client T prompt #"{{ t }}"# }
function both(t: string) -> int { Extract(t).age + ExtractA(t).age }
`;

const REPLY = '{"name": "Ada Lovelace", "age": 36}';
const PIECES = ['{"name": ', '"Ada ', 'Lovelace", ', '"age": ', '36}'];

async function collect(s: BrakeStream<unknown>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const ev of s) events.push(ev);
  return events;
}

const deltasOf = (events: StreamEvent[]) =>
  events
    .filter((e): e is Extract<StreamEvent, { kind: 'delta' }> => e.kind === 'delta')
    .map((e) => e.text)
    .join('');

const transports: Array<[string, () => EngineOptions]> = [['host transport', () => ({ http: { transport: 'host' } })]];
if (httpNativeAvailable) transports.unshift(['native transport', () => ({})]);

for (const [label, transportOptions] of transports) {
  describe(`engine.stream (${label})`, () => {
    let models = 0;
    const fresh = (tag: string) => `${tag}-${label.split(' ')[0]}-${++models}`;
    async function engine(m: string, options: EngineOptions = {}): Promise<Engine> {
      return Engine.fromSource(SOURCE(m), {
        workerThreads: 2,
        env: { MOCK_V1: `${mock.url}/v1`, MOCK: mock.url },
        ...transportOptions(),
        ...options,
      });
    }

    it('yields an attempt, deltas that join into the reply and growing partial values; final is the typed value', async () => {
      const m = fresh('events');
      mock.enqueue({ chunks: PIECES, chunkDelayMs: 5 }, { model: m });
      const e = await engine(m);
      try {
        const s = e.stream('Extract', ['x']);
        const events = await collect(s);
        expect(await s.final).toEqual({ name: 'Ada Lovelace', age: 36 });
        expect(events[0]).toEqual({ kind: 'attempt', function: 'Extract', client: 'C', attempt: 1 });
        expect(deltasOf(events)).toBe(REPLY);
        for (const ev of events.filter((x) => x.kind === 'delta')) expect(ev).toMatchObject({ function: 'Extract', client: 'C', attempt: 1 });
        const partials = events.filter((x) => x.kind === 'partial').map((x) => (x as { value: unknown }).value);
        expect(partials.length).toBeGreaterThan(1);
        expect(partials.at(-1)).toEqual({ name: 'Ada Lovelace', age: 36 });
        // An unfinished string is kept as it is; a field not yet arrived is null.
        if (label.startsWith('native')) expect(partials).toContainEqual({ name: 'Ada ', age: null });
        expect(of(m)[0]!.body.stream).toBe(true);
      } finally {
        await e.close();
      }
    });

    it("reads anthropic's stream shape, streams the LLM calls inside an expression function, and gives a non-streaming client's reply as one delta", async () => {
      const m = fresh('shapes');
      const e = await engine(m);
      try {
        mock.enqueue([{ chunks: PIECES }, { chunks: PIECES }], { model: m });
        const s = e.stream('both', ['x']);
        const events = await collect(s);
        expect(await s.final).toBe(72);
        expect(events.filter((x) => x.kind === 'attempt')).toEqual([
          { kind: 'attempt', function: 'Extract', client: 'C', attempt: 1 },
          { kind: 'attempt', function: 'ExtractA', client: 'A', attempt: 1 },
        ]);
        expect(deltasOf(events)).toBe(REPLY + REPLY);
        expect(of(m).map((r) => r.body.stream)).toEqual([true, true]);

        mock.enqueue({ content: REPLY }, { model: m });
        const w = e.stream('ExtractW', ['x']);
        const whole = await collect(w);
        expect(whole.filter((x) => x.kind === 'delta')).toEqual([
          { kind: 'delta', function: 'ExtractW', client: 'W', attempt: 1, text: REPLY },
        ]);
        expect(await w.final).toEqual({ name: 'Ada Lovelace', age: 36 });
        expect(of(m)[2]!.body.stream).toBeUndefined();
      } finally {
        await e.close();
      }
    });

    it('streams every provider shape: openai, openai-generic, azure-openai, ollama, anthropic', async () => {
      const m = fresh('providers');
      const e = await engine(m);
      try {
        for (const [fn, client] of [['ExtractOA', 'OA'], ['Extract', 'C'], ['ExtractZ', 'Z'], ['ExtractO', 'O'], ['ExtractA', 'A']]) {
          mock.enqueue({ chunks: PIECES }, { model: m });
          const s = e.stream(fn as 'Extract', ['x']);
          const events = await collect(s);
          expect(await s.final).toEqual({ name: 'Ada Lovelace', age: 36 });
          expect(events[0]).toEqual({ kind: 'attempt', function: fn, client, attempt: 1 });
          expect(deltasOf(events)).toBe(REPLY);
          const sent = of(m).at(-1)!.body;
          expect(sent.stream).toBe(true);
          // openai asks for the usage chunk too (BAML's stream_options).
          if (client === 'OA') expect(sent.stream_options).toEqual({ include_usage: true });
        }
        expect(of(m).map((r: any) => r.path)).toEqual([
          '/v1/chat/completions',
          '/v1/chat/completions',
          '/v1/chat/completions',
          '/v1/chat/completions',
          '/v1/messages',
        ]);
      } finally {
        await e.close();
      }
    });

    it("enforces the client's time_to_first_token_timeout_ms (a retry) and idle_timeout_ms (after a delta: the call fails)", async () => {
      const m = fresh('clocks');
      const e = await engine(m);
      try {
        // No first token within 150 ms: that attempt fails and the policy retries.
        mock.enqueue([{ delayMs: 1000, chunks: PIECES }, { chunks: PIECES }], { model: m });
        const s = e.stream('ExtractT', ['x']);
        const events = await collect(s);
        expect(await s.final).toEqual({ name: 'Ada Lovelace', age: 36 });
        expect(events.filter((x) => x.kind === 'attempt').map((x) => (x as { attempt: number }).attempt)).toEqual([1, 2]);
        expect(await mock.waitForClose(of(m)[0], 2000)).toBeDefined();

        // Parts 100 ms apart pass (each resets the idle clock)...
        mock.enqueue({ chunks: PIECES, chunkDelayMs: 100 }, { model: m });
        const ok = e.stream('ExtractT', ['x']);
        expect(await ok.final).toEqual({ name: 'Ada Lovelace', age: 36 });
        // ...a stall after a delta fails the call with that one attempt.
        mock.enqueue({ chunks: PIECES, stallAfter: 2 }, { model: m });
        const slow = e.stream('ExtractT', ['x']);
        const failure = await settle(slow.final);
        expect(failure.error).toBeInstanceOf(LlmError);
        expect((failure.error as LlmError).attempts).toHaveLength(1);
        expect((failure.error as LlmError).attempts[0]!.error).toContain('idle_timeout_ms');
        expect(await mock.waitForClose(of(m).at(-1), 2000)).toBeDefined();
      } finally {
        await e.close();
      }
    });

    it('retries a stream that failed before its first delta (a new attempt event), and fails at once after one', async () => {
      const m = fresh('retry');
      const e = await engine(m);
      try {
        // The first content event is broken: no delta was delivered, so the policy retries.
        mock.enqueue([{ malformed: true, chunks: PIECES }, { chunks: PIECES }], { model: m });
        const s = e.stream('ExtractQ', ['x']);
        const events = await collect(s);
        expect(await s.final).toEqual({ name: 'Ada Lovelace', age: 36 });
        expect(events.filter((x) => x.kind === 'attempt').map((x) => (x as { attempt: number }).attempt)).toEqual([1, 2]);
        expect(events.findIndex((x) => x.kind === 'delta')).toBeGreaterThan(1);
        expect(deltasOf(events.slice(2))).toBe(REPLY);

        // Cut mid-body after deltas: an LlmError with that one attempt, the policy unused.
        const before = of(m).length;
        mock.enqueue([{ close: 'mid-body', chunks: PIECES, chunkDelayMs: 2 }, { chunks: PIECES }], { model: m });
        const t = e.stream('ExtractQ', ['x']);
        const seen: StreamEvent[] = [];
        const failure = await settle(
          (async () => {
            for await (const ev of t) seen.push(ev);
          })(),
        );
        expect(failure.error).toBeInstanceOf(LlmError);
        expect((failure.error as LlmError).attempts).toHaveLength(1);
        expect((await settle(t.final)).error).toBe(failure.error);
        expect(seen.some((x) => x.kind === 'delta')).toBe(true);
        await sleep(30);
        expect(of(m).length - before).toBe(1);

        // A reply whose text was delivered but does not parse is not retried either.
        const before2 = of(m).length;
        mock.clearQueues(); // (the second behaviour above was not used)
        mock.enqueue([{ content: 'no person here' }, { chunks: PIECES }], { model: m });
        const u = e.stream('ExtractQ', ['x']);
        const unparsed = await settle(u.final);
        expect(unparsed.error).toBeInstanceOf(LlmError);
        expect((unparsed.error as LlmError).attempts).toHaveLength(1);
        await sleep(30);
        expect(of(m).length - before2).toBe(1);
      } finally {
        await e.close();
      }
    });

    // Each way of stopping, between two events: final rejects with
    // CancelledError of the right origin, promptly, and the mock sees its
    // connection closed at once.
    const stops: Array<[string, (s: BrakeStream<unknown>, it: AsyncIterator<StreamEvent>, e: Engine, ac: AbortController) => unknown, string]> = [
      ['break (return())', (_s, it) => it.return!(), 'cancel'],
      ['cancel()', (s) => s.cancel(), 'cancel'],
      ['signal', (_s, _it, _e, ac) => ac.abort(new Error('stop')), 'signal'],
      ['engine.close()', (_s, _it, e) => e.close(), 'close'],
    ];
    for (const [how, stop, origin] of stops) {
      it(`stops mid-stream on ${how}: CancelledError, socket closed at once`, async () => {
        const m = fresh('stop');
        mock.enqueue({ chunks: Array.from({ length: 200 }, (_, i) => `w${i} `), chunkDelayMs: 20 }, { model: m });
        const e = await engine(m);
        const ac = new AbortController();
        try {
          const s = e.stream('Say', ['x'], { signal: ac.signal });
          const it = s[Symbol.asyncIterator]();
          let ev = await it.next();
          while (!ev.done && ev.value.kind !== 'delta') ev = await it.next();
          expect(ev.done).toBe(false);
          const t0 = performance.now();
          await stop(s, it, e, ac);
          const r = await settle(s.final);
          const settledIn = performance.now() - t0;
          expect(r.error).toBeInstanceOf(CancelledError);
          expect(r.error.origin).toBe(origin);
          expect(settledIn).toBeLessThan(200);
          // The consumer's own stop ends the iteration; a stop from elsewhere
          // ends it with the error, after any events that had arrived.
          if (origin === 'cancel') expect(await it.next()).toEqual({ done: true, value: undefined });
          else {
            const rest = await settle((async () => { for (let x = await it.next(); !x.done; x = await it.next()); })());
            expect(rest.error).toBe(r.error);
          }
          const closedAt = await mock.waitForClose(of(m)[0], 2000);
          expect(closedAt).toBeDefined();
          expect(closedAt - t0).toBeLessThan(500);
        } finally {
          await e.close();
        }
      });
    }

    it('stops on its deadline (TimeoutError), before the first byte, during a backoff, and not after the final value', async () => {
      const m = fresh('phases');
      const e = await engine(m);
      try {
        mock.enqueue({ chunks: Array.from({ length: 100 }, (_, i) => `w${i} `), chunkDelayMs: 20 }, { model: m });
        const d = e.stream('Say', ['x'], { timeoutMs: 100 });
        const late = await settle(collect(d));
        expect(late.error).toBeInstanceOf(TimeoutError);

        // Before the first byte: the server has not answered yet.
        mock.enqueue({ delayMs: 10_000 }, { model: m });
        const n = of(m).length;
        const b = e.stream('Say', ['x']);
        await mock.waitForRequests(mock.requests.length + 1);
        b.cancel();
        expect((await settle(b.final)).error).toBeInstanceOf(CancelledError);
        expect(await mock.waitForClose(of(m)[n], 2000)).toBeDefined();

        // During a retry backoff (5 s): no further attempt is made.
        mock.enqueue({ status: 500 }, { model: m });
        const before = of(m).length;
        const r = e.stream('ExtractS', ['x']);
        const events: StreamEvent[] = [];
        const reading = settle(
          (async () => {
            for await (const ev of r) events.push(ev);
          })(),
        );
        while (of(m).length === before) await sleep(2);
        await sleep(30);
        const t0 = performance.now();
        r.cancel();
        expect((await settle(r.final)).error).toBeInstanceOf(CancelledError);
        expect((await reading).error).toBeUndefined(); // the consumer's own stop ends the loop
        expect(performance.now() - t0).toBeLessThan(200);
        await sleep(30);
        expect(of(m).length - before).toBe(1);
        expect(events).toEqual([{ kind: 'attempt', function: 'ExtractS', client: 'S', attempt: 1 }]);

        // After the final value: cancel() changes nothing.
        mock.enqueue({ chunks: PIECES }, { model: m });
        const f = e.stream('Extract', ['x']);
        const value = await f.final;
        f.cancel();
        expect(await f.final).toBe(value);
        expect(deltasOf(await collect(f))).toBe(REPLY);
      } finally {
        await e.close();
      }
    });

    it('keeps a slow consumer bounded: deltas beyond the bound join, partials coalesce, nothing final is lost', async () => {
      const m = fresh('slow');
      const chunks = Array.from({ length: 3000 }, (_, i) => `w${i} `);
      mock.enqueue({ chunks }, { model: m });
      const e = await engine(m);
      try {
        const s = e.stream('Say', ['x']);
        const value = await s.final; // nobody reads until the end
        expect(value).toBe(chunks.join(''));
        const events = await collect(s);
        expect(deltasOf(events)).toBe(chunks.join(''));
        expect(events.filter((x) => x.kind === 'delta').length).toBeLessThanOrEqual(MAX_BUFFERED_DELTAS);
        expect(events.filter((x) => x.kind === 'partial').length).toBe(1);
        expect(events.at(-1)).toEqual({ kind: 'partial', function: 'Say', value: chunks.join('') });
      } finally {
        await e.close();
      }
    });

    it("counts a streamed reply against the call's memory limit", async () => {
      const m = fresh('memory');
      const big = Array.from({ length: 4000 }, (_, i) => `word${i} `); // about 40 KB of text
      mock.enqueue([{ chunks: big }, { chunks: PIECES }], { model: m });
      const e = await engine(m, { callMemoryLimit: 32 * 1024 });
      try {
        const failed = await settle(e.stream('Say', ['x']).final);
        expect(failed.error?.kind).toBe('out_of_memory');
        expect(failed.error?.message).toContain('streamed reply'); // charged as it arrived, not only at the end
        expect(await e.stream('Extract', ['x']).final).toEqual({ name: 'Ada Lovelace', age: 36 }); // the engine goes on
      } finally {
        await e.close();
      }
    });

    it('answers next() calls made before earlier ones settled, in order', async () => {
      const m = fresh('next');
      mock.enqueue({ chunks: PIECES, chunkDelayMs: 5 }, { model: m });
      const e = await engine(m);
      try {
        const it = e.stream('Extract', ['x'])[Symbol.asyncIterator]();
        const firsts = await Promise.all([it.next(), it.next(), it.next()]);
        expect(firsts.map((r) => r.done)).toEqual([false, false, false]);
        expect(firsts[0]!.value).toMatchObject({ kind: 'attempt', attempt: 1 });
        let text = '';
        for (const r of firsts) if (!r.done && r.value.kind === 'delta') text += r.value.text;
        for (let r = await it.next(); !r.done; r = await it.next()) if (r.value.kind === 'delta') text += r.value.text;
        expect(text).toBe(REPLY);
      } finally {
        await e.close();
      }
    });

    it('refuses a second iterator and reports a call that cannot start through final and iteration', async () => {
      const m = fresh('misuse');
      mock.enqueue({ chunks: PIECES }, { model: m });
      const e = await engine(m);
      try {
        const s = e.stream('Extract', ['x']);
        const first = collect(s);
        expect(() => s[Symbol.asyncIterator]()).toThrow(TypeError);
        await first;
        const bad = e.stream('Nope' as never, []);
        expect((await settle(bad.final)).error?.code).toBe('ERR_BRAKE_UNKNOWN_FUNCTION');
        expect((await settle(collect(bad))).error?.code).toBe('ERR_BRAKE_UNKNOWN_FUNCTION');
        const aborted = e.stream('Extract', ['x'], { signal: AbortSignal.abort() });
        expect((await settle(aborted.final)).error).toBeInstanceOf(CancelledError);
      } finally {
        await e.close();
      }
    });
  });
}

// Many streams at once, the mock in a process of its own: every stream
// delivers its whole reply and value; nothing is left in flight.
describe('many concurrent streams', () => {
  let servers: ChildProcess;
  let llm = '';
  beforeAll(async () => {
    servers = fork(fileURLToPath(new URL('../support/servers-process.mjs', import.meta.url)), [REPLY], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    llm = ((await new Promise((resolve) => servers.once('message', resolve))) as { llm: string }).llm;
  });
  afterAll(() => {
    servers?.kill();
  });

  const cases: Array<[string, EngineOptions, number]> = [['host transport', { http: { transport: 'host' } }, 1_000]];
  if (httpNativeAvailable) cases.unshift(['native transport', {}, 10_000]);
  for (const [label, options, n] of cases) {
    it(`${n.toLocaleString('en-US')} streams at once (${label})`, { timeout: 180_000 }, async () => {
      const e = await Engine.fromSource(SOURCE('many'), { workerThreads: 2, env: { MOCK_V1: `${llm}/v1`, MOCK: llm }, ...options });
      try {
        const streams = Array.from({ length: n }, () => e.stream('Extract', ['x']));
        let whole = 0;
        let typed = 0;
        await Promise.all(
          streams.map(async (s) => {
            if (deltasOf(await collect(s)) === REPLY) whole++;
            const v = (await s.final) as { name: string; age: number };
            if (v.name === 'Ada Lovelace' && v.age === 36) typed++;
          }),
        );
        expect(whole).toBe(n);
        expect(typed).toBe(n);
        expect(e.liveCalls).toBe(0);
        const deadline = performance.now() + 5000;
        while (e.httpStats.transfers > 0 && performance.now() < deadline) await sleep(5);
        expect(e.httpStats.transfers).toBe(0);
      } finally {
        await e.close();
      }
    });
  }
});

// `watch let` variables (brake.h "streams", WATCH): every function the call
// runs reports its watched variables' changes as { kind: 'watch' } events.
describe('watch events', () => {
  const SOURCE = `
class Value {
  value int
}
class Point {
  x Value
  y Value
}
class Vertex {
  edges Vertex[]
  value int
}
function greater_than_five(value: int) -> bool {
  value > 5
}
function filtered() -> int {
  watch let value = 0;
  value.$watch.options(baml.WatchOptions { when: greater_than_five });
  value = 1;
  value = 6;
  value = 6;
  value = 2;
  value = 9;
  value
}
function filtered_by_lambda() -> int {
  watch let v = Value { value: 0 };
  v.$watch.options(baml.WatchOptions { when: (x: Value) -> bool { x.value % 2 == 0 } });
  v = Value { value: 1 };
  v = Value { value: 2 };
  v.value = 4;
  v.value
}
function manual() -> int {
  watch let value = 0;
  value.$watch.options(baml.WatchOptions { when: "manual" });
  value = 1;
  value = 2;
  value = 3;
  value.$watch.notify();
  value = 4;
  value.$watch.options(baml.WatchOptions { when: "auto" });
  value = 5;
  value
}
function primitive() -> int {
  watch let value = 0;
  value = 0;
  value = 6;
  value += 1;
  value
}
function alias() -> int {
  watch let point = Point { x: Value { value: 0 }, y: Value { value: 0 } };
  let a = point;
  a.x.value = 1;
  let inner = point.y;
  inner.value = 2;
  inner.value = 2;
  point.x.value + point.y.value
}
function added_removed() -> int {
  watch let point = Point { x: Value { value: 0 }, y: Value { value: 0 } };
  let old = point.x;
  point.x = Value { value: 5 };
  old.value = 9;
  point.x.value
}
function cycle() -> int {
  let v1 = Vertex { value: 1, edges: [] };
  watch let v2 = Vertex { value: 2, edges: [] };
  v1.edges.push(v2);
  v2.edges.push(v1);
  v1.value = 10;
  v1.value
}
function scoped() -> int {
  let outer = {
    watch let v = Value { value: 0 };
    v.value = 1;
    v
  };
  outer.value = 2;
  outer.value
}
function loop_break() -> int {
  let total = 0;
  for (let i in [1, 2, 3]) {
    watch let x = i;
    if (x > 1) { break; }
    x = x + 9;
    total = total + x;
  }
  total = total + 100;
  total
}
function set_in_callee(v: Value) -> null {
  v.value = 7;
  null
}
function inner_watch() -> int {
  watch let y = 1;
  y = 2;
  y
}
function calls() -> int {
  watch let v = Value { value: 0 };
  set_in_callee(v);
  let r = inner_watch();
  r = r + v.value;
  r
}
function containers() -> int {
  watch let xs = [1];
  xs.push(2);
  xs[0] = 1;
  xs[0] = 5;
  watch let m = { "a": 1 };
  m["a"] = 1;
  m["b"] = 2;
  xs.pop();
  xs.length() + m.length()
}
function replaced_equal() -> int {
  watch let point = Point { x: Value { value: 1 }, y: Value { value: 0 } };
  let old = point.x;
  let fresh = Value { value: 1 };
  point.x = fresh;
  old.value = 50;
  fresh.value = 2;
  let none = [];
  none.pop();
  watch let empty = none;
  empty.pop();
  point.x.value
}
function unrelated(n: int) -> int {
  let built = [];
  for (let i = 0; i < 20000; i += 1) { built.push(Value { value: i }); }
  watch let big = built;
  let tmp = [];
  for (let i = 0; i < n; i += 1) { tmp.push(i); }
  big[5].value = -1;
  tmp.length()
}
function last_in_block(n: int) -> int {
  let i = 0;
  while (i < n) {
    i += 1;
    watch let x = 0;
    x = i;
  }
  i
}
function bump(v: Value) -> null {
  v.value = 1;
  null
}
function call_as_value() -> null {
  watch let b = Value { value: 0 };
  bump(b)
}
function made() -> Value {
  watch let v = Value { value: 0 };
  v
}
function after_return() -> int {
  let v = made();
  v.value = 5;
  v.value
}
function tight(n: int) -> int {
  watch let i = 0;
  while (i < n) { i += 1; }
  i
}
function forever() -> int {
  watch let i = 0;
  while (true) { i += 1; }
  i
}
`;
  let e: Engine;
  beforeAll(async () => {
    e = await Engine.fromSource(SOURCE, { workerThreads: 2 });
  });
  afterAll(async () => {
    await e?.close();
  });

  const watches = async (fn: string, args: unknown[] = []): Promise<{ events: string[]; final: unknown }> => {
    const s = e.stream(fn, args);
    const events: string[] = [];
    for await (const ev of s) {
      expect(ev.kind).toBe('watch');
      if (ev.kind === 'watch') events.push(`${ev.function}.${ev.name}=${JSON.stringify(ev.value)}`);
    }
    return { events, final: await s.final };
  };

  it('$watch.options: a `when` function decides which assignments are reported; "manual" leaves it to notify()', async () => {
    expect(await watches('filtered')).toEqual({
      events: ['filtered.value=0', 'filtered.value=6', 'filtered.value=9'],
      final: 9,
    });
    // (changes inside the value are not judged by the function: not reported)
    expect(await watches('filtered_by_lambda')).toEqual({
      events: ['filtered_by_lambda.v={"value":0}', 'filtered_by_lambda.v={"value":2}'],
      final: 4,
    });
    expect(await watches('manual')).toEqual({ events: ['manual.value=0', 'manual.value=3', 'manual.value=5'], final: 5 });
  });

  it('reports the first value and each change; an assignment of an equal value is not a change', async () => {
    expect(await watches('primitive')).toEqual({ events: ['primitive.value=0', 'primitive.value=6', 'primitive.value=7'], final: 7 });
  });

  it('reports changes made through aliases, at any depth; not those of objects no longer reached', async () => {
    expect(await watches('alias')).toEqual({
      events: [
        'alias.point={"x":{"value":0},"y":{"value":0}}',
        'alias.point={"x":{"value":1},"y":{"value":0}}',
        'alias.point={"x":{"value":1},"y":{"value":2}}',
      ],
      final: 3,
    });
    expect(await watches('added_removed')).toEqual({
      events: ['added_removed.point={"x":{"value":0},"y":{"value":0}}', 'added_removed.point={"x":{"value":5},"y":{"value":0}}'],
      final: 5,
    });
  });

  it('follows cycles (a value that holds itself is reported, not walked forever)', async () => {
    const s = e.stream('cycle', []);
    const events: Array<{ name: string; value: unknown }> = [];
    for await (const ev of s) if (ev.kind === 'watch') events.push({ name: ev.name, value: ev.value });
    expect(await s.final).toBe(10);
    // Declared, then the push that closed the cycle through v1, then v1's change (a cyclic value
    // crosses to the host as far as it can: the events come, whatever their values).
    expect(events.map((x) => x.name)).toEqual(['v2', 'v2', 'v2']);
  });

  it('ends a watch when its variable leaves its block: the block end, break, return', async () => {
    expect(await watches('scoped')).toEqual({ events: ['scoped.v={"value":0}', 'scoped.v={"value":1}'], final: 2 });
    expect(await watches('loop_break')).toEqual({
      events: ['loop_break.x=1', 'loop_break.x=10', 'loop_break.x=2'],
      final: 110,
    });
    expect(await watches('calls')).toEqual({
      events: ['calls.v={"value":0}', 'calls.v={"value":7}', 'inner_watch.y=1', 'inner_watch.y=2'],
      final: 9,
    });
  });

  it('an == object put in place of another is still another object: its changes are reported, the old one\'s not', async () => {
    expect(await watches('replaced_equal')).toEqual({
      events: ['replaced_equal.point={"x":{"value":1},"y":{"value":0}}', 'replaced_equal.point={"x":{"value":2},"y":{"value":0}}', 'replaced_equal.empty=[]'],
      final: 2,
    });
  });

  it('changes to objects a watched value does not reach cost a lookup, not a walk of the watched value', async () => {
    const s = e.stream('unrelated', [200_000]);
    const t0 = performance.now();
    let last: unknown;
    for await (const ev of s) if (ev.kind === 'watch') last = ev.value;
    expect(await s.final).toBe(200_000);
    expect((last as Array<{ value: number }>)[5]!.value).toBe(-1);
    // (walking the 20,000 watched objects at each of the 200,000 unrelated pushes took minutes)
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it("reports a change made by its block's last instruction (an assignment, a call); nothing after its function returned", async () => {
    expect(await watches('last_in_block', [3])).toEqual({
      events: ['last_in_block.x=0', 'last_in_block.x=1', 'last_in_block.x=0', 'last_in_block.x=2', 'last_in_block.x=0', 'last_in_block.x=3'],
      final: 3,
    });
    expect(await watches('call_as_value')).toEqual({ events: ['call_as_value.b={"value":0}', 'call_as_value.b={"value":1}'], final: null });
    expect(await watches('after_return')).toEqual({ events: ['made.v={"value":0}'], final: 5 });
  });

  it('delivers the events of a running call while a timer is pending (its own deadline, another call sleeping)', async () => {
    const napping = e.call('tight', [1]); // (a quick call for company)
    const s = e.stream('forever', [], { timeoutMs: 60_000 });
    let n = 0;
    const t0 = performance.now();
    for await (const ev of s) if (ev.kind === 'watch' && ++n === 3) break;
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await settle(s.final)).error).toBeInstanceOf(CancelledError);
    await napping;
  });

  it('reports push, pop, index and key assignments that change the value', async () => {
    expect(await watches('containers')).toEqual({
      events: ['containers.xs=[1]', 'containers.xs=[1,2]', 'containers.xs=[5,2]', 'containers.m={"a":1}', 'containers.m={"a":1,"b":2}', 'containers.xs=[5]'],
      final: 3,
    });
  });

  it('coalesces a tight loop: a slow reader gets the newest value, and the last one is the final value', async () => {
    const s = e.stream('tight', [2_000_000]);
    await sleep(50); // (nobody reads meanwhile)
    const seen: number[] = [];
    for await (const ev of s) if (ev.kind === 'watch') seen.push(ev.value as number);
    expect(await s.final).toBe(2_000_000);
    // 2,000,000 changes; what was not delivered by a time slice's end (2 ms) coalesces past
    // MAX_BUFFERED_WATCHES, so far fewer reach the reader.
    expect(seen.length).toBeLessThan(200_000);
    expect(seen.length).toBeGreaterThan(MAX_BUFFERED_WATCHES);
    expect(seen.at(-1)).toBe(2_000_000);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
  });

  it('a call that is not streamed reports nothing and gives the same value', async () => {
    expect(await e.call('containers', [])).toBe(3);
    expect(await e.call('tight', [1000])).toBe(1000);
  });

  it('stops a watched tight loop promptly on cancel, however it is stopped', async () => {
    for (const how of ['cancel', 'break', 'timeout'] as const) {
      const s = e.stream('forever', [], how === 'timeout' ? { timeoutMs: 50 } : {});
      let n = 0;
      const t0 = performance.now();
      let stopAt = 0;
      try {
        for await (const ev of s) {
          expect(ev.kind).toBe('watch');
          if (++n === 3) {
            stopAt = performance.now();
            if (how === 'cancel') s.cancel();
            if (how === 'break') break;
          }
        }
      } catch (error) {
        expect(how).toBe('timeout'); // (its iteration ends with the call's TimeoutError)
        expect(error).toBeInstanceOf(TimeoutError);
      }
      const { error } = await settle(s.final);
      expect(error).toBeInstanceOf(how === 'timeout' ? TimeoutError : CancelledError);
      expect(performance.now() - (how === 'timeout' ? t0 : stopAt)).toBeLessThan(how === 'timeout' ? 2000 : 500);
    }
    expect(e.liveCalls).toBe(0);
  });
});
