// Error classes: codes from brake_status.h, names, instanceof across two copies, one copy for ESM and CommonJS.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import * as brake from '../../lib/index';
import { ERROR_CLASS_BY_STATUS, codeForStatus } from '../../lib/errors';

const root = path.resolve(__dirname, '..', '..');

describe('errors', () => {
  it('every status maps to a class and an ERR_BRAKE_<STATUS> code (CANCELLED: ABORT_ERR)', () => {
    const header = readFileSync(path.join(root, 'native', 'include', 'brake_status.h'), 'utf8');
    const names = [...header.matchAll(/X\((\w+),\s*\d+,/g)].map((m) => m[1]);
    for (const name of names) {
      if (name === 'OK') continue;
      expect(ERROR_CLASS_BY_STATUS).toHaveProperty(name);
      expect(codeForStatus(name as brake.StatusName)).toBe(name === 'CANCELLED' ? 'ABORT_ERR' : `ERR_BRAKE_${name}`);
    }
    expect(Object.keys(ERROR_CLASS_BY_STATUS).sort()).toEqual(names.filter((n) => n !== 'OK').sort());
  });

  it('classes have stable names and codes', () => {
    const c = new brake.CancelledError('x', { cause: 'why', callId: 3, origin: 'signal' });
    expect([c.name, c.code, c.cause, c.callId, c.origin]).toEqual(['AbortError', 'ABORT_ERR', 'why', 3, 'signal']);
    const t = new brake.TimeoutError();
    expect([t.name, t.code, t.origin]).toEqual(['TimeoutError', 'ERR_BRAKE_TIMEOUT', 'timeout']);
    // Default messages (own properties: they survive structuredClone), a message of one's own, and a cause only when one is given.
    const d = new brake.CancelledError();
    expect(Object.keys(d)).toEqual(['code', 'message', 'callId', 'origin']);
    expect([d.message, t.message, String(d), d.stack?.split('\n')[0]]).toEqual([
      'The operation was aborted',
      'The call timed out',
      'AbortError: The operation was aborted',
      'AbortError: The operation was aborted',
    ]);
    expect([c.message, new brake.TimeoutError('late').message]).toEqual(['x', 'late']);
    expect([structuredClone(d).message, structuredClone(t).message]).toEqual(['The operation was aborted', 'The call timed out']);
    expect(['cause' in d, 'cause' in c, 'cause' in new brake.CancelledError(undefined, { cause: undefined })]).toEqual([
      false,
      true,
      true,
    ]);
    expect(t).toBeInstanceOf(brake.CancelledError);
    expect(t).toBeInstanceOf(brake.BrakeError);
    expect(t).toBeInstanceOf(Error);
    const table: Array<[Error & { code: string }, string, string]> = [
      [new brake.DuplicateCallIdError(), 'DuplicateCallIdError', 'ERR_BRAKE_DUPLICATE_CALL_ID'],
      [new brake.EngineClosedError(), 'EngineClosedError', 'ERR_BRAKE_ENGINE_CLOSED'],
      [new brake.InvalidArgumentError(), 'InvalidArgumentError', 'ERR_BRAKE_INVALID_ARGUMENT'],
      [new brake.UnknownFunctionError(), 'UnknownFunctionError', 'ERR_BRAKE_UNKNOWN_FUNCTION'],
      [new brake.CompileError([]), 'CompileError', 'ERR_BRAKE_COMPILE_ERROR'],
      [new brake.ScriptError('m'), 'ScriptError', 'ERR_BRAKE_SCRIPT_ERROR'],
      [new brake.HttpError('m'), 'HttpError', 'ERR_BRAKE_HTTP_ERROR'],
      [new brake.LlmError('m'), 'LlmError', 'ERR_BRAKE_LLM_ERROR'],
    ];
    for (const [e, name, code] of table) {
      expect([e.name, e.code]).toEqual([name, code]);
      expect(e).toBeInstanceOf(brake.BrakeError);
      expect(e).not.toBeInstanceOf(brake.CancelledError);
    }
    expect(new brake.UnknownFunctionError()).toBeInstanceOf(brake.InvalidArgumentError);
    expect(new Error('x')).not.toBeInstanceOf(brake.BrakeError);
    expect(null).not.toBeInstanceOf(brake.BrakeError);
  });

  it('user subclasses keep ordinary instanceof', () => {
    class Mine extends brake.CancelledError {}
    expect(new Mine()).toBeInstanceOf(Mine);
    expect(new Mine()).toBeInstanceOf(brake.CancelledError);
    expect(new brake.CancelledError()).not.toBeInstanceOf(Mine);
  });

  it('instanceof survives two copies of the package', () => {
    const copies = [0, 1].map(() => {
      const dir = mkdtempSync(path.join(tmpdir(), 'brake-copy-'));
      cpSync(path.join(root, 'dist', 'errors.js'), path.join(dir, 'errors.js'));
      return require(path.join(dir, 'errors.js')) as typeof import('../../lib/errors');
    });
    const [a, b] = copies;
    expect(a.CancelledError).not.toBe(b.CancelledError);
    expect(new a.CancelledError()).toBeInstanceOf(b.CancelledError);
    expect(new a.TimeoutError()).toBeInstanceOf(b.CancelledError);
    expect(new a.TimeoutError()).toBeInstanceOf(b.BrakeError);
    expect(new a.ScriptError('x')).not.toBeInstanceOf(b.CancelledError);
    expect(new a.CancelledError()).not.toBeInstanceOf(b.TimeoutError);
    expect(new a.CancelledError()).toBeInstanceOf(brake.CancelledError);
  });

  it('ESM and CommonJS entry points share one copy of the classes', () => {
    const script = `
      import * as esm from 'brake';
      import { createRequire } from 'node:module';
      const cjs = createRequire(${JSON.stringify(path.join(root, 'package.json'))})('brake');
      console.log(JSON.stringify({
        same: esm.CancelledError === cjs.CancelledError && esm.Engine === cjs.Engine,
        keys: Object.keys(esm).sort().join(',') === Object.keys(cjs).sort().join(','),
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root }).toString();
    expect(JSON.parse(out)).toEqual({ same: true, keys: true });
  });
});
