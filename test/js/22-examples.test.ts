// The programs in examples/ run, and do what their comments say, so they
// never rot: each is run the way a newcomer runs it (tsx), and its output
// checked. (examples/c-host and examples/python-host run under ctest.)
import { execFile } from 'node:child_process';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');

function example(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tsx, [path.join(root, 'examples', file)], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('examples', () => {
  it('http-cancel-on-close: the call of a client that went away is cancelled, the other answered', async () => {
    const out = await example('http-cancel-on-close.mts');
    expect(out).toMatch(/^server: the call for "hurry" was cancelled \d+ ms in \(signal: the client went away\)$/m);
    expect(out).toMatch(/^client: gave up \(AbortError\)$/m);
    expect(out).toMatch(/^server: answered "patience" after \d+ ms$/m);
    expect(out).toMatch(/^client: the answer to patience$/m);
    expect(out).toMatch(/^live calls left: 0$/m);
    const cancelledAt = Number(/was cancelled (\d+) ms in/.exec(out)![1]);
    expect(cancelledAt).toBeLessThan(800); // at the client's close (100 ms in), not at the end of the 1 s sleep
  });

  it('shared-signal-batch: one abort cancels 10,000 calls', async () => {
    const out = await example('shared-signal-batch.mts');
    expect(out).toMatch(/^10000 of 10000 calls cancelled by one abort, all settled \d+ ms after the start$/m);
    expect(Number(/all settled (\d+) ms/.exec(out)![1])).toBeLessThan(2500); // long before the 3 s sleeps end
    expect(out).toMatch(/^live calls left: 0$/m);
  });

  it('llm-with-mock: a typed value from the mock model, then a call cancelled while it answers', async () => {
    const out = await example('llm-with-mock.mts');
    expect(out).toMatch(/^Person: Ada Lovelace, born 1815$/m);
    expect(out).toMatch(/^cancelled: true after \d+ ms$/m);
    expect(Number(/after (\d+) ms/.exec(out)![1])).toBeLessThan(1500);
  });

  it('stream-with-mock: partial values as the model writes, the final value, and a reader leaving early', async () => {
    const out = await example('stream-with-mock.mts');
    expect(out).toMatch(/^attempt 1 with client Local$/m);
    expect(out).toMatch(/^partial: \{"name":"Ada[^"]*","born":null,"known_for":\[\]\}$/m); // a field still arriving
    expect(out).toMatch(/^final: Ada Lovelace, born 1815, known for 2 things \(\d+ partial values before\)$/m);
    expect(Number(/\((\d+) partial values/.exec(out)![1])).toBeGreaterThan(3);
    expect(out).toMatch(/^left early: cancelled true, the mock saw the connection close: true$/m);
  });

  it('cancel-demo (npm run demo) runs to its end', async () => {
    const out = await example('cancel-demo.ts');
    expect(out.length).toBeGreaterThan(0);
  });
});
