// Spawned tasks through the TypeScript API: an aborted call takes its
// sleeping children with it (engine.liveTasks back to 0); a race whose
// losers spin in while (true), wait on an HTTP request and sleep stops all
// three (the request's socket closed); a host function running in a task
// sees its signal abort with origin 'parent' when the call is aborted; a
// task's error nothing awaited reaches the host as a ScriptError.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, ScriptError, httpNativeAvailable } from '../../lib/index';
import type { HostContext } from '../../lib/index';
import { startHttpServer } from '../support/http-server.mjs';
import { settle, sleep } from './helpers';

const SOURCE = `
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

beforeAll(async () => {
  server = await startHttpServer();
});

afterAll(async () => {
  await server?.close();
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
    const since = server.connections.length;
    expect(await engine.call('race_losers', [`${server.url}/slow?ms=600000`])).toBe('quick');
    expect(await server.waitForRequestClose('/slow', 2000)).toBeDefined();
    expect(server.connections.length).toBeGreaterThan(since);
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
