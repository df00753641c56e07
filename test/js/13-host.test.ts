// Host functions through the TypeScript API: declared with a BAML signature,
// checked statically and at run time, failures as ScriptError 'host_error'
// with the original error as cause, and cancellation from every source
// reaching the host's AbortSignal (lib/host.ts).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

import {
  CancelledError,
  CompileError,
  Engine,
  ScriptError,
  TimeoutError,
  className,
  type HostContext,
  type HostFunction,
} from '../../lib/index';
import { settle, sleep } from './helpers';

const SOURCE = `
class User {
  name string
  age int
}
function one(x: int) -> int { add_one(x) }
function twice(x: int) -> int { add_one(add_one(x)) }
function user(id: int) -> string {
  let u = lookup(id, ["a", "b"]);
  if (u == null) { "none" } else { u.name }
}
function find(id: int) -> User? { lookup(id, []) }
function greet(u: User) -> string { hello(u) }
function waits(x: int) -> int { slow(x) + 1 }
function sum(n: int) -> int {
  let s = 0;
  for (let i = 0; i < n; i += 1) { s += add_one(i); }
  s
}
`;

type Fn = HostFunction['fn'];

function host(overrides: Partial<Record<string, Fn>> = {}): Record<string, HostFunction> {
  const fns: Record<string, [string, Fn]> = {
    add_one: ['(x: int) -> int', ([x]) => x + 1],
    lookup: [
      '(id: int, tags: string[]) -> User?',
      ([id]) => (id % 2 === 0 ? { name: `user${id}`, age: 30 } : null),
    ],
    hello: ['(u: User) -> string', ([u]) => `hello ${u.name} (${className(u)})`],
    slow: ['(x: int) -> int', () => new Promise(() => {})],
  };
  const out: Record<string, HostFunction> = {};
  for (const [name, [signature, fn]] of Object.entries(fns)) out[name] = { signature, fn: overrides[name] ?? fn };
  return out;
}

async function engineWith(overrides: Partial<Record<string, Fn>> = {}, options = {}): Promise<Engine> {
  return Engine.fromSource(SOURCE, { workerThreads: 2, host: host(overrides), ...options });
}

// Resolves with the context of the next host call that reaches `fn`.
function capture(): { fn: Fn; next: Promise<HostContext>; count: () => number } {
  let resolve!: (c: HostContext) => void;
  let n = 0;
  const next = new Promise<HostContext>((r) => (resolve = r));
  return {
    fn: (_args, ctx) => {
      n++;
      resolve(ctx);
      void ctx.signal; // the host watches for cancellation
      return new Promise(() => {});
    },
    next,
    count: () => n,
  };
}

describe('host functions: calling', () => {
  it('sync and async functions, class arguments and results, a loop of calls', async () => {
    await using e = await engineWith({ add_one: async ([x]) => x + 1 });
    expect(await e.call('twice', [40])).toBe(42);
    expect(await e.call('sum', [1000])).toBe(500500);
    expect(await e.call('user', [2])).toBe('user2');
    expect(await e.call('user', [3])).toBe('none');
    const u = await e.call('find', [4]);
    expect(u).toEqual({ name: 'user4', age: 30 });
    expect(className(u)).toBe('User');
    expect(await e.call('greet', [{ name: 'ada', age: 36 }])).toBe('hello ada (User)');
    expect(e.pendingHostCalls).toBe(0);
  });

  it('the context names the call and the function', async () => {
    const seen: HostContext[] = [];
    await using e = await engineWith({
      add_one: ([x], ctx) => {
        seen.push(ctx);
        return x + 1;
      },
    });
    await e.call('one', [1], { callId: 77 });
    expect(seen[0]).toMatchObject({ callId: 77, functionName: 'add_one' });
    expect(seen[0]!.signal.aborted).toBe(false);
  });

  it('signatures and calls are checked when the program compiles', async () => {
    const bad = { ...host(), add_one: { signature: '(x: Nope) -> int', fn: () => 1 } };
    const e1 = await settle(Engine.fromSource(SOURCE, { host: bad }));
    expect(e1.error).toBeInstanceOf(CompileError);
    expect(e1.error.diagnostics).toEqual([
      expect.objectContaining({ file: '<host function add_one>', message: "unknown type 'Nope'" }),
    ]);
    const e2 = await settle(
      Engine.fromSource('function f() -> int { add_one("x") }', { host: { add_one: host().add_one! } }),
    );
    expect(e2.error.diagnostics[0].message).toBe("argument 1 of host function 'add_one' must be int, not string");
    const e3 = await settle(Engine.fromSource(SOURCE, { host: { ...host(), 'not a name': { signature: '() -> int', fn: () => 1 } } }));
    expect(e3.error.diagnostics[0].message).toContain('is not an identifier');
    await expect(Engine.fromSource(SOURCE, { host: { add_one: { signature: 1 } } as never })).rejects.toThrow(TypeError);
    await expect(Engine.fromSource(SOURCE, { host: { add_one: { signature: '() -> int' } } as never })).rejects.toThrow(
      'options.host.add_one.fn must be a function',
    );
    // Undeclared: the script cannot call it.
    const e4 = await settle(Engine.fromSource(SOURCE));
    expect(e4.error.diagnostics.some((d: { message: string }) => d.message === "undefined function 'add_one'")).toBe(true);
  });

  it('a result of the wrong type is a type_error naming the function', async () => {
    await using e = await engineWith({ add_one: () => 'seven' });
    const { error } = await settle(e.call('one', [1]));
    expect(error).toBeInstanceOf(ScriptError);
    expect(error.kind).toBe('type_error');
    expect(error.message).toContain("host function 'add_one' returned a value that is not int");
    expect(error.frames[0]).toEqual({ function: 'one', line: 6 });
    expect(await e.call('find', [3])).toBe(null);
  });

  it('a throw or a rejection is a host_error with the message, the code and the error as cause', async () => {
    const boom = Object.assign(new Error('no such row'), { code: 'E_ROW' });
    for (const fn of [
      () => {
        throw boom;
      },
      () => Promise.reject(boom),
    ] as Fn[]) {
      await using e = await engineWith({ add_one: fn });
      const { error } = await settle(e.call('one', [1]));
      expect(error).toBeInstanceOf(ScriptError);
      expect(error).toMatchObject({ kind: 'host_error', message: 'no such row', hostCode: 'E_ROW', code: 'ERR_BRAKE_SCRIPT_ERROR' });
      expect(error.cause).toBe(boom);
      expect(error.frames[0].function).toBe('one');
    }
    await using e = await engineWith({ add_one: () => Promise.reject('plain') });
    const { error } = await settle(e.call('one', [1]));
    expect(error).toMatchObject({ kind: 'host_error', message: 'plain', hostCode: undefined, cause: 'plain' });
  });

  it('a result whose then getter throws is a host_error; the rest of the slice still settles', async () => {
    const boom = new Error('then is broken');
    // By argument, not by arrival: the three calls run on two workers, so
    // their host calls may reach JS in any order.
    await using e = await engineWith({
      add_one: ([x]) =>
        x === 1
          ? {
              get then() {
                throw boom;
              },
            }
          : x + 1,
    });
    const results = await Promise.all([settle(e.call('one', [1])), settle(e.call('one', [2])), settle(e.call('one', [3]))]);
    expect(results[0]!.error).toMatchObject({ kind: 'host_error', message: 'then is broken', cause: boom });
    expect(results.slice(1).map((r) => r.value)).toEqual([3, 4]);
    expect(e.liveCalls).toBe(0);
  });

  it('a result that cannot cross is a host_error, not a crash', async () => {
    await using e = await engineWith({ add_one: () => () => 1 });
    const { error } = await settle(e.call('one', [1]));
    expect(error).toMatchObject({ kind: 'host_error', hostCode: 'ERR_BRAKE_INVALID_ARGUMENT' });
    expect(error.message).toContain("host function 'add_one' returned a value that cannot cross to a script");
    expect(error.cause).toBeInstanceOf(Error);
    expect(await e.call('user', [2])).toBe('user2');
  });

  it('a host function may call, cancel and close the same engine', async () => {
    let engine!: Engine;
    engine = await engineWith({
      add_one: async ([x]) => {
        if (x === 100) return engine.cancel(900) ? 1 : 0; // cancels another call, from inside a slice
        return x > 0 ? ((await engine.call('one', [x - 1])) as number) + 1 : 1;
      },
    });
    expect(await engine.call('one', [5])).toBe(6);
    const victim = settle(engine.call('waits', [1], { callId: 900 }));
    await sleep(20);
    expect(await engine.call('one', [100])).toBe(1);
    expect((await victim).error).toBeInstanceOf(CancelledError);
    await engine.close();
    // Closing the engine from one of its own host functions.
    const closer: Engine = await engineWith({ add_one: ([x]) => (void closer.close(), x) });
    const r = await settle(closer.call('one', [1]));
    expect(r.error === undefined || r.error instanceof CancelledError).toBe(true);
    await closer.close();
    expect(closer.closed).toBe(true);
    expect(closer.liveCalls).toBe(0);
  });
});

describe('host functions: cancellation', () => {
  it('every source of cancellation aborts the host signal with the call reason, and the call settles at once', async () => {
    const controller = new AbortController();
    const cases: Array<[string, (e: Engine, p: Promise<unknown>) => void, object, (reason: unknown) => void]> = [
      ['signal', () => controller.abort(new Error('user stop')), { signal: controller.signal }, (r) =>
        expect(r).toEqual(new Error('user stop'))],
      ['cancel', (e) => e.cancel(31), { callId: 31 }, (r) => expect(r).toMatchObject({ name: 'AbortError', origin: 'cancel', callId: 31 })],
      ['timeout', () => {}, { timeoutMs: 30 }, (r) => expect(r).toBeInstanceOf(TimeoutError)],
      ['close', (e) => void e.close(), {}, (r) => expect(r).toMatchObject({ origin: 'close' })],
    ];
    for (const [name, cancel, options, checkReason] of cases) {
      const c = capture();
      const e = await engineWith({ slow: c.fn });
      const p = settle(e.call('waits', [1], options));
      const ctx = await c.next;
      expect(ctx.signal.aborted, name).toBe(false);
      const aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      const t0 = performance.now();
      cancel(e, p);
      const { error } = await p;
      await aborted;
      expect(performance.now() - t0, name).toBeLessThan(1000);
      expect(error, name).toBeInstanceOf(CancelledError);
      checkReason(ctx.signal.reason);
      expect(e.pendingHostCalls, name).toBe(0);
      await e.close();
    }
  });

  it('user code run while a slice settles sees Error.stackTraceLimit as it was; engine errors have a header-only stack', async () => {
    // The errors a settling call gets are built without JS frames (lib/engine.ts
    // lowerStackTraceLimit), but host functions and abort listeners run inside
    // the same delivery, and their own errors keep their stacks.
    const seen: Array<[unknown, number]> = [];
    let waiting = false;
    const record = (): void => {
      seen.push([Error.stackTraceLimit, (new Error('here').stack ?? '').split('\n').length]);
    };
    await using e = await Engine.fromSource(`${SOURCE}\nfunction boom() -> int { 1 / 0 }\n`, {
      workerThreads: 1,
      host: host({
        add_one: ([x]) => (record(), x + 1),
        slow: (_args, ctx) => {
          waiting = true;
          ctx.signal.addEventListener('abort', record);
          return new Promise(() => {});
        },
      }),
    });
    // Failures and host calls started together usually share a slice.
    for (let i = 0; i < 50; i++) {
      const outcomes = await Promise.allSettled([e.call('boom', []), e.call('one', [i]), e.call('boom', [])]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
    }
    // A host cancel builds the reason, then runs the host's listeners.
    const p = settle(e.call('waits', [1], { callId: 77 }));
    for (let t = 0; !waiting && t < 500; t++) await sleep(2);
    e.cancel(77);
    const { error } = await p;
    expect((error as Error).stack).toBe('AbortError: The operation was aborted');
    for (let t = 0; seen.length < 51 && t < 500; t++) await sleep(2);
    expect(seen.length).toBe(51);
    const limit = Error.stackTraceLimit;
    expect(seen.every(([l, lines]) => l === limit && lines > 1)).toBe(true);
  });

  it('a late answer after a cancel is dropped; the signal read late is already aborted', async () => {
    let answer!: (v: number) => void;
    let ctx!: HostContext;
    await using e = await engineWith({
      slow: (_args, c) => {
        ctx = c;
        return new Promise((resolve) => (answer = resolve));
      },
    });
    const p = settle(e.call('waits', [1], { callId: 5 }));
    while (!answer) await sleep(1);
    e.cancel(5);
    expect((await p).error).toBeInstanceOf(CancelledError);
    answer(41);
    await sleep(10);
    expect(ctx.signal.aborted).toBe(true); // first read after the cancel
    expect(e.pendingHostCalls).toBe(0);
    expect(e.liveCalls).toBe(0);
    expect(await e.call('one', [1])).toBe(2);
  });

  it('a pre-cancelled call never invokes the host', async () => {
    let calls = 0;
    await using e = await engineWith({ add_one: () => ++calls });
    const { error } = await settle(e.call('one', [1], { signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(CancelledError);
    expect(calls).toBe(0);
  });

  it('no AbortController is made unless the host reads signal', async () => {
    const Original = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made++;
      }
    };
    try {
      await using e = await engineWith({ add_one: async ([x]) => x + 1 });
      expect(await e.call('sum', [100])).toBe(5050);
      expect(made).toBe(0);
      await using reads = await engineWith({ add_one: ([x], ctx) => (void ctx.signal, x + 1) });
      expect(await reads.call('one', [1])).toBe(2);
      expect(made).toBe(1);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  it('close with host calls outstanding: every call rejects with origin close, every signal aborts', async () => {
    const contexts: HostContext[] = [];
    const e = await engineWith({ slow: (_a, ctx) => (contexts.push(ctx), new Promise(() => {})) });
    const calls = Array.from({ length: 200 }, (_, i) => settle(e.call('waits', [i])));
    while (contexts.length < 200) await sleep(1);
    await e.close();
    for (const r of await Promise.all(calls)) expect(r.error).toMatchObject({ name: 'AbortError', origin: 'close' });
    expect(contexts.every((c) => c.signal.aborted && (c.signal.reason as CancelledError).origin === 'close')).toBe(true);
    expect(e.pendingHostCalls).toBe(0);
  });

  it('10,000 concurrent host calls with random cancels: each settles once, nothing stays pending', async () => {
    const answers: Array<() => void> = [];
    let aborted = 0;
    await using e = await engineWith({
      add_one: ([x], ctx) =>
        new Promise((resolve, reject) => {
          ctx.signal.addEventListener('abort', () => aborted++);
          answers.push(() => (x % 7 === 0 ? reject(new Error(`no ${x}`)) : resolve(x + 1)));
        }),
    });
    const n = 10_000;
    let settled = 0;
    const calls = Array.from({ length: n }, (_, i) =>
      e.call('one', [i], { callId: i + 1 }).then(
        (v) => (settled++, { ok: v }),
        (error) => (settled++, { error }),
      ),
    );
    while (answers.length + aborted < n * 0.5) await sleep(1);
    for (let i = 0; i < n / 3; i++) e.cancel(1 + Math.floor(Math.random() * n));
    while (settled < n) {
      for (const answer of answers.splice(0, answers.length).sort(() => Math.random() - 0.5)) answer();
      await sleep(1);
    }
    const results = await Promise.all(calls);
    let ok = 0;
    let cancelled = 0;
    let failed = 0;
    results.forEach((r, i) => {
      if ('ok' in r) {
        ok++;
        expect(r.ok).toBe(i + 1);
      } else if (r.error instanceof CancelledError) cancelled++;
      else {
        failed++;
        expect(r.error).toMatchObject({ kind: 'host_error', message: `no ${i}` });
      }
    });
    expect(ok + cancelled + failed).toBe(n);
    expect(cancelled).toBeGreaterThan(0);
    expect(aborted).toBeLessThanOrEqual(cancelled);
    expect(e.liveCalls).toBe(0);
    expect(e.pendingHostCalls).toBe(0);
  }, 60_000);
});

describe('host functions: lifetime', () => {
  const dist = JSON.stringify(path.resolve(__dirname, '..', '..', 'dist'));
  const source = JSON.stringify('function waits() -> int { slow() }');

  it('a host function that never settles does not keep the process alive once its call settled', () => {
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const brake = require(${dist});
         brake.Engine.fromSource(${source}, { host: { slow: { signature: '() -> int', fn: () => new Promise(() => {}) } } })
           .then((e) => { const p = e.call('waits', [], { timeoutMs: 50 }); globalThis.keep = e; return p; })
           .catch((err) => console.log(err.name));`,
      ],
      { timeout: 20_000 },
    );
    expect(r.stdout.toString().trim()).toBe('TimeoutError');
    expect(r.status).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('works in worker_threads, and terminating with host calls outstanding is clean', async () => {
    const w = new Worker(
      `const brake = require(${dist});
       const { parentPort } = require('node:worker_threads');
       brake.Engine.fromSource('function one(x: int) -> int { add_one(x) } function waits() -> int { slow() }', {
         host: {
           add_one: { signature: '(x: int) -> int', fn: async ([x]) => x + 1 },
           slow: { signature: '() -> int', fn: () => new Promise(() => {}) },
         },
       }).then(async (e) => {
         const v = await e.call('one', [41]);
         for (let i = 0; i < 50; i++) e.call('waits').catch(() => {});
         parentPort.postMessage(v);
       });`,
      { eval: true },
    );
    const value = await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    expect(value).toBe(42);
    const t0 = performance.now();
    expect(await w.terminate()).toBe(1);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
