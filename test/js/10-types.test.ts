// The .d.ts types (both entry points) type-check real usage, and @ts-expect-error lines prove misuse is refused.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

it('published types check (tsc -p test/js/types)', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'test', 'js', 'types')], { cwd: root, stdio: 'pipe' });
  } catch (error: any) {
    output = `${error.stdout}${error.stderr}`;
  }
  expect(output).toBe('');
}, 60_000);
