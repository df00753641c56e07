// Chaos: calls whose cancel comes at a random moment (before start, while queued, sleeping, computing,
// just after completion, twice). Every promise settles exactly once, with the right value or the right
// error class, and the engine ends with zero live calls. BRAKE_CHAOS_CALLS sets the count (npm run chaos:long: 1M).
import { describe, expect, it } from 'vitest';

import { CancelledError } from '../../lib/index';
import { engine } from './helpers';

const TOTAL = Number(process.env.BRAKE_CHAOS_CALLS ?? 100_000);
const IN_FLIGHT = 2_000;

function rng(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Moment = 'before' | 'queued' | 'sleeping' | 'computing' | 'after' | 'twice' | 'signal' | 'never';
const MOMENTS: Moment[] = ['before', 'queued', 'sleeping', 'computing', 'after', 'twice', 'signal', 'never'];

describe('chaos', () => {
  it(`${TOTAL} calls cancelled at random moments all settle once, correctly`, { timeout: 30 * 60_000 }, async () => {
    const seed = Number(process.env.BRAKE_CHAOS_SEED ?? Date.now() % 1_000_000);
    console.log(`chaos: ${TOTAL} calls, seed ${seed}`);
    const random = rng(seed);
    const e = await engine();
    const settled = new Uint8Array(TOTAL);
    const counts = { value: 0, cancelled: 0 };
    const problems: string[] = [];
    let started = 0;
    let done = 0;
    let nextId = 1;

    await new Promise<void>((resolve) => {
      const finish = (i: number): void => {
        if (settled[i]++ !== 0) problems.push(`call ${i} settled twice`);
        if (++done === TOTAL) resolve();
        else pump();
      };
      const one = (i: number): void => {
        const moment = MOMENTS[Math.floor(random() * MOMENTS.length)];
        const id = nextId++;
        const kind = moment === 'computing' ? 'compute' : moment === 'sleeping' || random() < 0.5 ? 'nap' : 'quick';
        const arg = kind === 'compute' ? 20_000 + Math.floor(random() * 20_000) : Math.floor(random() * 5);
        const expected = kind === 'compute' ? (arg * (arg - 1)) / 2 : kind === 'nap' ? arg : 42;
        let signal: AbortSignal | undefined;
        if (moment === 'before' || moment === 'signal') {
          const ac = new AbortController();
          signal = ac.signal;
          if (moment === 'before') ac.abort('pre');
          else setTimeout(() => ac.abort('late'), Math.floor(random() * 3));
        }
        const p = e.call(kind, kind === 'quick' ? [] : [arg], { callId: id, signal });
        p.then(
          (value) => {
            if (value !== expected) problems.push(`call ${i} (${moment}, ${kind}) resolved ${String(value)} != ${expected}`);
            if (moment === 'before') problems.push(`call ${i}: pre-aborted call resolved`);
            counts.value++;
            if (moment === 'after' && e.cancel(id)) problems.push(`call ${i}: cancel after completion found a live call`);
            finish(i);
          },
          (error) => {
            if (!(error instanceof CancelledError)) problems.push(`call ${i} (${moment}): ${error?.name}: ${error?.message}`);
            else if (moment === 'never' || moment === 'after') problems.push(`call ${i} (${moment}) cancelled by nobody`);
            counts.cancelled++;
            finish(i);
          },
        );
        if (moment === 'queued') e.cancel(id);
        else if (moment === 'twice') {
          e.cancel(id);
          setImmediate(() => e.cancel(id));
        } else if (moment === 'sleeping' || moment === 'computing') {
          setTimeout(() => e.cancel(id), Math.floor(random() * 3));
        }
      };
      const pump = (): void => {
        while (started - done < IN_FLIGHT && started < TOTAL) one(started++);
      };
      pump();
    });

    console.log(`chaos: ${counts.value} values, ${counts.cancelled} cancelled`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(settled.every((s) => s === 1)).toBe(true);
    expect(e.liveCalls).toBe(0);
    await e.close();
  });
});
