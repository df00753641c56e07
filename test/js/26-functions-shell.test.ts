// Functions as values and baml.sys.shell through the TypeScript API: a
// function value returned to the host arrives as "<function NAME>"; callbacks
// of the array methods are stopped by an abort like any code; the shell is
// off unless `allowShell`, its output is the value, a nonzero exit a
// ScriptError, and aborting the call kills the command's process group.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CancelledError, Engine, ScriptError } from '../../lib/index';

const SOURCE = `
function double(x: int) -> int { x * 2 }
function as_value() -> (int) -> int { double }
function spins_in_callback() -> int[] {
  [1, 2, 3].map((x: int) -> int {
    while (true) {}
    x
  })
}
function sleeps_in_callback() -> int {
  [1, 2].reduce((acc: int, x: int) -> int { baml.sys.sleep(600000); acc + x }, 0)
}
function mapped(xs: int[], k: int) -> int[] {
  xs.map((x) -> { x * k }).filter((x) -> { x > 2 })
}
function shell(cmd: string) -> string { baml.sys.shell(cmd) }
`;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

describe('functions as values', () => {
  it('computes with lambdas and reaches the host as a name', async () => {
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    try {
      expect(await engine.call('mapped', [[1, 2, 3], 2])).toEqual([4, 6]);
      expect(await engine.call('as_value', [])).toBe('<function double>');
    } finally {
      await engine.close();
    }
  });

  it('stops a callback that spins or sleeps when the call is aborted', async () => {
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    try {
      for (const fn of ['spins_in_callback', 'sleeps_in_callback']) {
        const ac = new AbortController();
        const p = engine.call(fn, [], { signal: ac.signal });
        setTimeout(() => ac.abort(), 20);
        const t0 = performance.now();
        await expect(p).rejects.toBeInstanceOf(CancelledError);
        expect(performance.now() - t0).toBeLessThan(1000);
      }
      expect(await engine.call('mapped', [[5], 1])).toEqual([5]); // the engine goes on
    } finally {
      await engine.close();
    }
  });
});

describe('baml.sys.shell', () => {
  it('is off by default', async () => {
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    try {
      const err = await engine.call('shell', ['echo hi']).catch((e) => e);
      expect(err).toBeInstanceOf(ScriptError);
      expect(err.kind).toBe('shell_disabled');
    } finally {
      await engine.close();
    }
  });

  it('returns stdout, fails on a nonzero exit, and refuses a bad option', async () => {
    await expect(Engine.fromSource(SOURCE, { allowShell: 'yes' as unknown as boolean })).rejects.toThrow(
      'options.allowShell must be a boolean',
    );
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1, allowShell: true, env: { WHO: 'brake' } });
    try {
      expect(await engine.call('shell', ['echo "hi $WHO"'])).toBe('hi brake\n');
      const err = await engine.call('shell', ['echo bad >&2; exit 2']).catch((e) => e);
      expect(err).toBeInstanceOf(ScriptError);
      expect(err.kind).toBe('shell_error');
      expect(err.message).toContain('exit code 2: bad');
    } finally {
      await engine.close();
    }
  });

  it('kills the process group when the call is aborted', async () => {
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1, allowShell: true });
    const file = join(tmpdir(), `brake-shell-${process.pid}.pids`);
    rmSync(file, { force: true });
    try {
      const ac = new AbortController();
      const p = engine.call('shell', [`sleep 30 & echo $! >> ${file}; echo $$ >> ${file}; sleep 30`], { signal: ac.signal });
      let pids: number[] = [];
      await until(() => {
        try {
          pids = readFileSync(file, 'utf8').trim().split('\n').map(Number);
        } catch {
          pids = [];
        }
        return pids.length === 2;
      }, 5000);
      expect(pids.length).toBe(2);
      const t0 = performance.now();
      ac.abort();
      await expect(p).rejects.toBeInstanceOf(CancelledError);
      expect(performance.now() - t0).toBeLessThan(200);
      expect(await until(() => pids.every((pid) => !alive(pid)), 2000)).toBe(true);
    } finally {
      rmSync(file, { force: true });
      await engine.close();
    }
  });
});
