// Lifecycle under I/O (native HTTP transport): a worker_thread terminated
// with transfers in flight, or while its engine is closing; a process that
// exits with transfers in flight; thousands of engines each making a
// request and closing; the same with LLM streams in flight (engine.stream
// against the mock LLM server). Each time the server sees every connection
// close, nothing hangs or crashes, and threads, descriptors and memory come
// back.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine, httpNativeAvailable } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startHttpServer } from '../support/http-server.mjs';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { connectionsClosed, requestsArrived, sleep } from './helpers';

const dist = JSON.stringify(path.resolve(__dirname, '..', '..', 'dist'));
const SOURCE = 'function get(url: string) -> string { baml.http.fetch(url).text() }';

type Server = Awaited<ReturnType<typeof startHttpServer>>;
let server: Server;

beforeAll(async () => {
  server = await startHttpServer();
});

afterAll(async () => {
  await server?.close();
});

const arrived = (tag: string, n: number): Promise<void> => requestsArrived(server, tag, n);
const allClosed = (tag: string): Promise<boolean> => connectionsClosed(server, tag);

const count = (dir: string): number => readdirSync(dir).length;

// Closed engines' JS objects (and the typed arrays each holds for its event
// slices) are garbage until V8 collects them: measure after a full GC.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe.runIf(httpNativeAvailable())('lifecycle with native HTTP transfers in flight', () => {
  const n = 200;

  for (const when of ['in flight', 'closing'] as const) {
    it(`a worker_thread terminated with ${n} transfers ${when === 'closing' ? 'while its engine closes' : 'in flight'}`, async () => {
      const tag = `wt-${when === 'closing' ? 'c' : 'f'}-${Date.now()}`;
      const w = new Worker(
        `const { parentPort } = require('node:worker_threads');
         const brake = require(${dist});
         brake.Engine.fromSource(${JSON.stringify(SOURCE)}, { workerThreads: 2, http: { transport: 'native' } }).then((e) => {
           for (let i = 0; i < ${n}; i++) e.call('get', ['${server.url}/slow?ms=60000&${tag}=' + i]).catch(() => {});
           parentPort.on('message', (m) => {
             if (m === 'close') e.close();
             parentPort.postMessage('ready');
           });
           parentPort.postMessage('started');
         });`,
        { eval: true },
      );
      await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
      await arrived(tag, n);
      if (when === 'closing') {
        w.postMessage('close');
        await new Promise((resolve) => w.once('message', resolve));
      }
      const t0 = performance.now();
      expect(await w.terminate()).toBe(1);
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(await allClosed(tag)).toBe(true);
    });
  }

  it(`a process that exits with ${n} transfers in flight exits at once and closes them`, async () => {
    const tag = `exit-${Date.now()}`;
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(
        process.execPath,
        [
          '-e',
          `const brake = require(${dist});
           brake.Engine.fromSource(${JSON.stringify(SOURCE)}, { workerThreads: 2, http: { transport: 'native' } }).then((e) => {
             for (let i = 0; i < ${n}; i++) e.call('get', ['${server.url}/slow?ms=60000&${tag}=' + i]).catch(() => {});
             process.stdin.once('data', () => process.exit(0));
           });`,
        ],
        { timeout: 20_000 },
      );
      child.on('exit', (c) => resolve(c));
      arrived(tag, n).then(() => child.stdin!.end('go\n'));
    });
    expect(code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(await allClosed(tag)).toBe(true);
  });

  it('two thousand engines, each making a request and closing: threads, descriptors and memory come back', async () => {
    const warm = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native' } });
    expect(await warm.call('get', [`${server.url}/ok`])).toBe('hello');
    await warm.close();
    await sleep(50);
    gc();
    const threads0 = count('/proc/self/task');
    const fds0 = count('/proc/self/fd');
    let rss500 = 0;
    for (let i = 0; i < 2000; i++) {
      const e = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: 'native' } });
      expect(await e.call('get', [`${server.url}/ok?engine=${i}`])).toBe('hello');
      await e.close();
      if (i === 499) {
        // The allocator and V8's heap grow to a plateau over the first few
        // hundred engines; a leak shows as growth after it.
        gc();
        rss500 = process.memoryUsage().rss;
      }
    }
    await sleep(50);
    gc();
    const grew = process.memoryUsage().rss - rss500;
    if (process.env.SHOW) console.log(`RSS grew ${(grew / 1048576).toFixed(1)} MB over 1,500 engines`);
    expect(count('/proc/self/task')).toBeLessThanOrEqual(threads0 + 2);
    expect(count('/proc/self/fd')).toBeLessThanOrEqual(fds0 + 5);
    // 1,500 more engines: under 16 MB (an engine's worker, driver and
    // connection leaked each time would be far more).
    expect(grew, `RSS grew ${(grew / 1048576).toFixed(1)} MB over 1,500 engines`).toBeLessThan(16 * 1024 * 1024);
  });
});

describe.runIf(httpNativeAvailable())('lifecycle with LLM streams in flight', () => {
  const n = 100;
  const source = (model: string, url: string) => `
client<llm> C { provider openai-generic options { base_url "${url}/v1" model "${model}" api_key "k" } }
function Say(t: string) -> string { client C prompt #"{{ t }}"# }`;
  // Starts n streams, each read with for await, and tells the parent once started.
  const streams = (model: string, url: string) =>
    `brake.Engine.fromSource(${JSON.stringify(source(model, url))}, { workerThreads: 2 }).then((e) => {
       for (let i = 0; i < ${n}; i++) {
         const s = e.stream('Say', ['x']);
         (async () => { for await (const ev of s); })().catch(() => {});
         s.final.catch(() => {});
       }
       READY();
     });`;

  type Mock = Awaited<ReturnType<typeof startMockLlm>>;
  let mock: Mock;
  beforeAll(async () => {
    mock = await startMockLlm();
  });
  afterAll(async () => {
    await mock?.close();
  });
  // n streams of `model` that have each delivered text and would go on for minutes.
  const slowStreams = (model: string) => {
    mock.enqueue(
      Array.from({ length: n }, () => ({ chunks: Array.from({ length: 1000 }, (_, i) => `w${i} `), chunkDelayMs: 200 })),
      { model },
    );
  };
  const started = async (model: string) => {
    const deadline = performance.now() + 10_000;
    while (mock.requests.filter((r: { body: any }) => r.body?.model === model).length < n && performance.now() < deadline) await sleep(5);
    await sleep(50); // the first events are out
  };
  const allStreamsClosed = async (model: string) => {
    for (const r of mock.requests.filter((x: { body: any }) => x.body?.model === model)) {
      if ((await mock.waitForClose(r, 5000)) === undefined) return false;
    }
    return true;
  };

  it(`a worker_thread terminated with ${n} streams in flight`, async () => {
    const model = `wt-stream-${Date.now()}`;
    slowStreams(model);
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const brake = require(${dist});
       const READY = () => parentPort.postMessage('started');
       ${streams(model, mock.url)}`,
      { eval: true },
    );
    await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    await started(model);
    const t0 = performance.now();
    expect(await w.terminate()).toBe(1);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(await allStreamsClosed(model)).toBe(true);
  });

  it(`a process that exits with ${n} streams in flight exits at once and closes them`, async () => {
    const model = `exit-stream-${Date.now()}`;
    slowStreams(model);
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(
        process.execPath,
        ['-e', `const brake = require(${dist}); const READY = () => {}; process.stdin.once('data', () => process.exit(0)); ${streams(model, mock.url)}`],
        { timeout: 20_000 },
      );
      child.on('exit', (c) => resolve(c));
      started(model).then(() => child.stdin!.end('go\n'));
    });
    expect(code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(await allStreamsClosed(model)).toBe(true);
  });
});
