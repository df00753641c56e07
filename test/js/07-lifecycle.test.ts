// Lifecycle: the event loop is held only while calls are in flight, process exit with calls in flight,
// worker_threads (start, call, cancel, terminate; main thread and worker loaded at once), collection of idle engines.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

import { PROGRAM, engine, settle } from './helpers';

const dist = JSON.stringify(path.resolve(__dirname, '..', '..', 'dist'));
const program = JSON.stringify(PROGRAM);

function runChild(body: string, args: string[] = []): { ms: number; stdout: string; stderr: string; status: number | null } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...args, '-e', `const brake = require(${dist}); const PROGRAM = ${program};\n${body}`], {
    timeout: 20_000,
  });
  return { ms: performance.now() - t0, stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

describe('process lifetime', () => {
  it('an idle engine does not keep the process alive', () => {
    const r = runChild(`
      brake.Engine.fromSource(PROGRAM, { workerThreads: 2 }).then(async (e) => {
        console.log(await e.call('add', [1, 2]));
        globalThis.keep = e; // never closed
      });`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('3');
    expect(r.status).toBe(0);
    expect(r.ms).toBeLessThan(3000);
  });

  it('calls in flight keep the process alive until they settle', () => {
    const r = runChild(`
      brake.Engine.fromSource(PROGRAM, { workerThreads: 2 }).then((e) => {
        e.call('sleep_then', [300, 9]).then((v) => console.log('settled', v));
      });`);
    expect(r.stdout.trim()).toBe('settled 9');
    expect(r.status).toBe(0);
  });

  it('process.exit with calls in flight exits promptly (cleanup hook cancels and joins)', () => {
    const r = runChild(`
      brake.Engine.fromSource(PROGRAM, { workerThreads: 2 }).then((e) => {
        for (let i = 0; i < 1000; i++) e.call('nap', [60000]).catch(() => {});
        e.call('spin').catch(() => {});
        setTimeout(() => { console.log('exiting', e.liveCalls); process.exit(0); }, 100);
      });`);
    expect(r.stdout.trim()).toBe('exiting 1001');
    expect(r.status).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });

  it('an unreachable idle engine is collected and its threads joined', () => {
    const r = runChild(
      `
      (async () => {
        for (let i = 0; i < 20; i++) {
          const e = await brake.Engine.fromSource(PROGRAM, { workerThreads: 2 });
          await e.call('quick');
        }
        for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
        const threads = require('fs').readdirSync('/proc/self/task').length;
        console.log(threads < 40 ? 'ok' : 'threads ' + threads);
      })();`,
      ['--expose-gc'],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
  });
});

describe('a locked-down realm', () => {
  // Under --frozen-intrinsics (or SES) Error.stackTraceLimit is read-only;
  // lib lowers it while building rejection errors only where it may.
  it('calls settle with their usual errors under --frozen-intrinsics', () => {
    const r = runChild(
      `
      brake.Engine.fromSource(PROGRAM, { workerThreads: 2 }).then(async (e) => {
        const ac = new AbortController();
        const calls = [
          e.call('nap', [60000], { signal: ac.signal }),
          e.call('nap', [60000], { timeoutMs: 20 }),
          e.call('fail', ['boom']),
          e.call('add', [1, 2]),
        ];
        setTimeout(() => ac.abort(), 20);
        for (const c of await Promise.allSettled(calls)) {
          console.log(c.status === 'fulfilled' ? c.value : c.reason.name + ' ' + c.reason.message);
        }
        await e.close();
      });`,
      ['--frozen-intrinsics', '--no-warnings'],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      'AbortError The operation was aborted',
      'TimeoutError The call timed out',
      'ScriptError boom',
      '3',
    ]);
    expect(r.status).toBe(0);
  });
});

describe('a patched Error.stackTraceLimit', () => {
  // A setter that refuses to restore the limit (or any exception while a
  // slice is delivered) must not strand other engines' completions.
  it('every call on a signal shared by two engines still settles', () => {
    const r = runChild(`
      Object.defineProperty(Error, 'stackTraceLimit', {
        get() { return 10; },
        set(v) { if (v !== 0) throw new Error('refused'); },
        configurable: true,
      });
      Promise.all([brake.Engine.fromSource(PROGRAM), brake.Engine.fromSource(PROGRAM)]).then(async ([a, b]) => {
        const hang = setTimeout(() => { console.log('hung'); process.exit(1); }, 5000);
        const ac = new AbortController();
        const calls = [a, b, a, b].map((e) => e.call('nap', [60000], { signal: ac.signal }));
        setTimeout(() => ac.abort(), 50);
        const out = await Promise.allSettled(calls);
        console.log(out.map((o) => o.status + ' ' + (o.reason && o.reason.origin)).join(','));
        clearTimeout(hang);
        await a.close();
        await b.close();
      });`);
    expect(r.stdout.trim()).toBe('rejected signal,rejected signal,rejected signal,rejected signal');
    expect(r.status).toBe(0);
  });
});

describe('worker_threads', () => {
  const workerCode = `
    const { parentPort } = require('node:worker_threads');
    const brake = require(${dist});
    (async () => {
      const e = await brake.Engine.fromSource(${program}, { workerThreads: 2 });
      const value = await e.call('add', [20, 22]);
      const p = e.call('nap', [60000], { callId: 5 });
      const found = e.cancel(5);
      const err = await p.catch((x) => x);
      for (let i = 0; i < 100; i++) e.call('nap', [60000]).catch(() => {});
      e.call('spin').catch(() => {});
      parentPort.postMessage({ value, found, name: err.name, origin: err.origin, cancelled: err instanceof brake.CancelledError, live: e.liveCalls });
    })();`;

  it('starts, calls, cancels and terminates with calls in flight, while the main thread uses the addon too', async () => {
    const main = await engine();
    const mainCall = main.call('sleep_then', [200, 1]);
    const workers = [0, 1].map(() => new Worker(workerCode, { eval: true }));
    const messages = await Promise.all(
      workers.map((w) => new Promise<any>((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))),
    );
    for (const m of messages) {
      expect(m).toEqual({ value: 42, found: true, name: 'AbortError', origin: 'cancel', cancelled: true, live: 101 });
    }
    const t0 = performance.now();
    const codes = await Promise.all(workers.map((w) => w.terminate()));
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(codes).toEqual([1, 1]);
    expect(await mainCall).toBe(1);
    expect(await main.call('add', [1, 1])).toBe(2);
    await main.close();
  });

  it('a worker exits by itself when its engine is idle', async () => {
    const w = new Worker(
      `const brake = require(${dist});
       brake.Engine.fromSource(${program}).then((e) => e.call('quick')).then((v) => require('node:worker_threads').parentPort.postMessage(v));`,
      { eval: true },
    );
    const value = await new Promise((resolve) => w.once('message', resolve));
    const code = await new Promise((resolve) => w.once('exit', resolve));
    expect([value, code]).toEqual([42, 0]);
  });
});

describe('close', () => {
  it('close with calls in flight: every call rejects with origin close, new calls get EngineClosedError', async () => {
    const e = await engine();
    const calls = Array.from({ length: 500 }, (_, i) => settle(e.call(i % 2 ? 'nap' : 'spin', i % 2 ? [60_000] : [])));
    await e.close();
    for (const r of await Promise.all(calls)) expect(r.error).toMatchObject({ name: 'AbortError', origin: 'close' });
    expect((await settle(e.call('quick'))).error?.name).toBe('EngineClosedError');
    expect(e.liveCalls).toBe(0);
  });
});
