// Exceptions through the TypeScript API: an unhandled throw fails the call
// with ScriptError 'unhandled_throw' carrying the value; runtime errors and
// host-function failures are catchable as "<kind>: <message>" strings;
// cancellation, deadlines and memory limits are not catchable; a throw
// unwinds watches and catches of the frames it leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, ScriptError, TimeoutError, type EngineOptions } from "../../lib/index";
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle, sleep } from './helpers';

const SOURCE = `
class Oops {
  code int
  why string
}
function throws_value() -> int {
  throw Oops { code: 7, why: "no" };
  0
}
function throws_string() -> string {
  throw "something went wrong";
  ""
}
function throws_null() -> int {
  throw null;
  0
}
function catches_host() -> string {
  failing() catch (e) {
    s: string => s
  }
}
function host_not_caught() -> string {
  failing() catch (e) {
    "never this" => "?"
  }
}
function spins_in_try() -> int {
  {
    while (true) {}
    0
  } catch (e) {
    _ => 1
  }
}
function sleeps_in_try() -> int {
  {
    baml.sys.sleep(600000);
    0
  } catch (e) {
    _ => 1
  }
}
function grows_in_try() -> int {
  {
    let s = "x";
    while (true) { s = s + s; }
    0
  } catch (e) {
    _ => 1
  }
}
function caught_in_a_loop(n: int) -> int {
  let caught = 0;
  let i = 0;
  while (i < n) {
    caught += (i / 0) catch (e) { _ => 1 };
    i += 1;
  }
  caught
}
function watched_then_throws() -> int {
  watch let x = 0;
  x = 5;
  throw "boom";
}
function watch_unwound() -> int {
  let r = watched_then_throws() catch (e) { "boom" => 99 };
  r + 1
}
`;

async function make(options: EngineOptions = {}): Promise<Engine> {
  return Engine.fromSource(SOURCE, {
    workerThreads: 2,
    host: {
      failing: {
        signature: '() -> string',
        fn: async () => {
          await sleep(1);
          throw new Error('the host said no');
        },
      },
    },
    ...options,
  });
}

describe('exceptions', () => {
  it('an unhandled throw fails the call with ScriptError unhandled_throw, its value and the script stack', async () => {
    const e = await make();
    const { error } = await settle(e.call('throws_value', []));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.kind).toBe('unhandled_throw');
    expect(error.value).toEqual({ code: 7, why: 'no' });
    expect(error.message).toContain('unhandled throw');
    expect(error.frames[0].function).toBe('throws_value');
    const s = await settle(e.call('throws_string', []));
    expect(s.error.message).toContain('something went wrong');
    expect(s.error.value).toBe('something went wrong');
    const n = await settle(e.call('throws_null', []));
    expect(n.error.kind).toBe('unhandled_throw');
    expect(n.error.value).toBe(null);
    await e.close();
  });

  it("a host function's failure is catchable where the script waited; one no arm takes fails the call", async () => {
    const e = await make();
    expect(await e.call('catches_host', [])).toBe('host_error: the host said no');
    const { error } = await settle(e.call('host_not_caught', []));
    expect(error.kind).toBe('unhandled_throw');
    expect(error.value).toBe('host_error: the host said no');
    await e.close();
  });

  it('cancellation and deadlines are not catchable: no arm runs, the call settles as cancelled', async () => {
    const e = await make();
    for (const fn of ['spins_in_try', 'sleeps_in_try']) {
      const p = e.call(fn, [], { callId: 1000 + fn.length });
      await sleep(20);
      const t0 = performance.now();
      e.cancel(1000 + fn.length);
      expect((await settle(p)).error).toBeInstanceOf(CancelledError);
      expect(performance.now() - t0).toBeLessThan(500);
      expect((await settle(e.call(fn, [], { timeoutMs: 30 }))).error).toBeInstanceOf(TimeoutError);
    }
    expect(e.liveCalls).toBe(0);
    await e.close();
  });

  it('a memory limit is not catchable either', async () => {
    const e = await make({ callMemoryLimit: 8 << 20 });
    const { error } = await settle(e.call('grows_in_try', []));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.kind).toBe('out_of_memory');
    await e.close();
  });

  it('what caught errors leave behind is collected: a loop of them runs within a small memory limit', async () => {
    const e = await make({ callMemoryLimit: 4 << 20 });
    expect(await e.call('caught_in_a_loop', [300_000])).toBe(300_000);
    await e.close();
  });

  it('a throw ends the watches of the frames it leaves', async () => {
    const e = await make();
    const s = e.stream('watch_unwound', []);
    const events: unknown[] = [];
    for await (const ev of s) if (ev.kind === 'watch') events.push([ev.function, ev.name, ev.value]);
    expect(await s.final).toBe(100);
    expect(events).toEqual([
      ['watched_then_throws', 'x', 0],
      ['watched_then_throws', 'x', 5],
    ]);
    await e.close();
  });
});

describe('LLM and HTTP failures a script catches', () => {
  let mock: Awaited<ReturnType<typeof startMockLlm>>;
  beforeAll(async () => {
    mock = await startMockLlm();
  });
  afterAll(async () => {
    await mock?.close();
  });

  const LLM_SOURCE = `
client<llm> Down {
  provider openai-generic
  options { base_url env.MOCK_V1 model "down" api_key "sk-test" }
}
function Ask(q: string) -> string {
  client Down
  prompt #"{{ q }}"#
}
function asks() -> string {
  Ask("hello") catch (e) {
    s: string => s
  }
}
function asks_uncaught() -> string { Ask("hello") }
function fetches(url: string) -> string {
  baml.http.fetch(url).text() catch (e) {
    s: string => s
  }
}
`;

  it("an LLM call whose attempts all failed is caught as \"llm_failed: ...\"; uncaught it is still an LlmError", async () => {
    const e = await Engine.fromSource(LLM_SOURCE, { env: { MOCK_V1: `${mock.url}/v1` } });
    mock.enqueue({ status: 500, content: 'down for good' }, { model: 'down' });
    const caught = (await e.call('asks', [])) as string;
    expect(caught.startsWith("llm_failed: 'Ask' failed after 1 attempt")).toBe(true);
    mock.enqueue({ status: 500, content: 'down for good' }, { model: 'down' });
    const { error } = await settle(e.call('asks_uncaught', []));
    expect(error?.name).toBe('LlmError');
    expect(e.liveCalls).toBe(0);
    await e.close();
  });

  it('an HTTP request the network policy refuses is caught as "network_policy: ..."', async () => {
    const e = await Engine.fromSource(LLM_SOURCE, { env: { MOCK_V1: `${mock.url}/v1` }, http: { allowedHosts: ['example.invalid'] } });
    const caught = (await e.call('fetches', [`${mock.url}/anything`])) as string;
    expect(caught.startsWith('network_policy: baml.http.fetch: 127.0.0.1:')).toBe(true);
    await e.close();
  });
});
