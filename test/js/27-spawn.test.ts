// Spawned tasks through the TypeScript API: an aborted call takes its
// sleeping children with it (engine.liveTasks back to 0); a race whose
// losers spin in while (true), wait on an HTTP request and sleep stops all
// three (the request's socket closed); a host function running in a task
// sees its signal abort with origin 'parent' when the call is aborted; a
// task's error nothing awaited reaches the host as a ScriptError; the
// sleeps, HTTP requests and LLM calls of different tasks overlap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, ScriptError, httpNativeAvailable } from '../../lib/index';
import type { HostContext } from '../../lib/index';
import { startHttpServer } from '../support/http-server.mjs';
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle, sleep } from './helpers';

const SOURCE = `
client<llm> Mock {
  provider openai-generic
  options { base_url env.MOCK_V1 model "overlap" api_key "sk-test" }
}
function Ask(q: string) -> string {
  client Mock
  prompt #"{{ q }}"#
}
function overlap(url: string) -> string[] {
  let a = spawn { baml.sys.sleep(300); "slept" };
  let b = spawn { baml.http.fetch(url).text() };
  let c = spawn { Ask("one") };
  let d = spawn { Ask("two") };
  [await a, await b, await c, await d]
}
function fanout(n: int) -> int {
  let fs: Future<int>[] = [];
  for (let i = 0; i < n; i += 1) { fs.push(spawn { i }) }
  let total = 0;
  for (let v in baml.future.all(fs)) { total += v }
  total
}
function sleepers(n: int) -> int {
  let fs: Future<int>[] = [];
  for (let i = 0; i < n; i += 1) { fs.push(spawn { baml.sys.sleep(600000); i }) }
  baml.future.all(fs).length()
}
function race_losers(slow_url: string) -> string {
  let spin = spawn { while (true) {} "spin" };
  let http = spawn { baml.http.fetch(slow_url).text() };
  let sleeper = spawn { baml.sys.sleep(600000); "sleep" };
  let quick = spawn { baml.sys.sleep(200); "quick" };
  baml.future.race([spin, http, sleeper, quick])
}
function in_task() -> int { await spawn { wait_forever(1) } }
function lost() -> int {
  let f: Future<int> = spawn { baml.sys.panic("nobody listened") };
  baml.sys.sleep(5);
  1
}
`;

type Server = Awaited<ReturnType<typeof startHttpServer>>;
let server: Server;
let mock: Awaited<ReturnType<typeof startMockLlm>>;

beforeAll(async () => {
  server = await startHttpServer();
  mock = await startMockLlm();
});

afterAll(async () => {
  await server?.close();
  await mock?.close();
});

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(2);
  }
  return check();
}

const TRANSPORTS: Array<'host' | 'native'> = httpNativeAvailable() ? ['host', 'native'] : ['host'];

describe.each(TRANSPORTS)('spawned tasks (%s transport)', (transport) => {
  let contexts: HostContext[] = [];
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.fromSource(SOURCE, {
      workerThreads: 2,
      http: { transport },
      env: { MOCK_V1: `${mock.url}/v1` },
      host: {
        wait_forever: {
          signature: '(x: int) -> int',
          fn: (_args, ctx) => {
            contexts.push(ctx);
            return new Promise(() => {});
          },
        },
      },
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('spawns and awaits through a call', async () => {
    expect(await engine.call('fanout', [1000])).toBe(499500);
    expect(engine.liveTasks).toBe(0);
  });

  it('the sleeps, HTTP requests and LLM calls of different tasks overlap', async () => {
    mock.enqueue([{ delayMs: 300, content: 'first' }, { delayMs: 300, content: 'second' }], { model: 'overlap' });
    const t0 = performance.now();
    const out = (await engine.call('overlap', [`${server.url}/slow?ms=300`])) as string[];
    const took = performance.now() - t0;
    expect(out[0]).toBe('slept');
    expect(out[2]! + out[3]!).toMatch(/first|second/);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(900); // one after another: 1,200 ms at least
  });

  it('an aborted call takes its sleeping children with it', async () => {
    const ac = new AbortController();
    const p = settle(engine.call('sleepers', [5000], { signal: ac.signal }));
    expect(await until(() => engine.liveTasks === 5000, 5000)).toBe(true);
    const t0 = performance.now();
    ac.abort();
    const { error } = await p;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).origin).toBe('signal');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(engine.liveTasks).toBe(0);
  });

  it('a race stops its losers: a while (true) loop, an HTTP request (socket closed) and a sleep', async () => {
    const path = `/slow?ms=600000&race=${transport}`;
    expect(await engine.call('race_losers', [`${server.url}${path}`])).toBe('quick');
    expect(server.requests.some((r: { url: string }) => r.url === path)).toBe(true); // (it was sent)
    expect(await server.waitForRequestClose(path, 2000)).toBeDefined(); // and its socket closed
    expect(await until(() => engine.liveTasks === 0, 2000)).toBe(true);
  });

  it("a host function in a task sees its signal abort with origin 'parent' when the call is aborted", async () => {
    contexts = [];
    const ac = new AbortController();
    const p = settle(engine.call('in_task', [], { signal: ac.signal }));
    expect(await until(() => contexts.length === 1, 2000)).toBe(true);
    const ctx = contexts[0]!;
    expect(ctx.signal.aborted).toBe(false);
    ac.abort();
    expect((await p).error).toBeInstanceOf(CancelledError);
    expect(await until(() => ctx.signal.aborted, 2000)).toBe(true);
    expect(ctx.signal.reason).toBeInstanceOf(CancelledError);
    expect((ctx.signal.reason as CancelledError).origin).toBe('parent');
    expect(engine.liveTasks).toBe(0);
  });

  it("a task's error that nothing awaited fails the call", async () => {
    const { error } = await settle(engine.call('lost', []));
    expect(error).toBeInstanceOf(ScriptError);
    expect((error as ScriptError).kind).toBe('panic');
    expect((error as ScriptError).message).toContain('a spawned task failed and nothing awaited it: nobody listened');
  });
});
