// What the LLM samples (bench/workers/llm-sample.mjs, stream-sample.mjs)
// share: the mock LLM server in the sample's process or in one of its own,
// waiting, error text, recognising a cancelled call, and a window of calls
// kept going.
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { startMockLlm } from '../../test/support/mock-llm.mjs';
import { measureWindow } from './window.mjs';

const workers = fileURLToPath(new URL('../workers/', import.meta.url));

/**
 * The mock, replying `reply`: in this process (its record and times on this
 * process's clock: { url, mock, close }) or, with ownProcess, in a process of
 * its own so its CPU is not the client's ({ url, close }).
 */
export async function startMock(reply, { ownProcess }) {
  if (!ownProcess) {
    const mock = await startMockLlm({ reply });
    return { url: mock.url, mock, close: () => mock.close() };
  }
  const child = fork(`${workers}/llm-mock-process.mjs`, [reply], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const url = await new Promise((resolve, reject) => {
    child.on('message', (m) => m.url && resolve(m.url));
    child.on('exit', (code) => reject(new Error(`the mock process exited (${code})`)));
  });
  return {
    url,
    close: async () => {
      child.removeAllListeners('exit');
      child.disconnect();
    },
  };
}

export async function waitFor(cond, what, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

export const reasonOf = (error) => `${error?.name ?? 'Error'}: ${String(error?.message ?? error).split('\n')[0].slice(0, 300)}`;

/** Awaits a call that was aborted: the time it settled, or throws when it was not cancelled. */
export async function settled(p) {
  try {
    await p;
  } catch (error) {
    const at = performance.now();
    // brake: CancelledError (name 'AbortError'); undici and fetch: AbortError; BAML: BamlAbortError,
    // or for its streams an Error whose message is {"type":"BamlAbortError",...}.
    if (/Abort/.test(error?.name ?? '') || /"BamlAbortError"/.test(error?.message ?? '')) return at;
    throw new Error(`the call failed but was not cancelled (${reasonOf(error)})`);
  }
  throw new Error('the call resolved although it was aborted');
}

/**
 * Keeps `concurrency` loops calling `once()` for spec.warmupMs + spec.durationMs
 * and measures the window (measureWindow): { n (calls done in it), seconds,
 * cpuUs, elu }. Throws when any call failed.
 */
export async function keepGoing(spec, concurrency, once) {
  let running = true;
  let done = 0;
  let failed = 0;
  let firstError;
  const loop = async () => {
    while (running) {
      try {
        await once();
        done++;
      } catch (error) {
        failed++;
        firstError ??= error;
        if (failed > 100) running = false;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  const window = await measureWindow(spec, () => done);
  running = false;
  await Promise.all(loops);
  if (failed) throw new Error(`${failed} calls failed, the first: ${reasonOf(firstError)}`);
  return window;
}
