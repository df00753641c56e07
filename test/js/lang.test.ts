// Runs every program under test/lang/ through the TypeScript API and checks its expectation comments
// (format: test/lang/README.md). Values are compared structurally; JS cannot tell 2 from 2.0, so an
// expected float matches any equal number, while ints (number or bigint) must match exactly.
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { CompileError, Engine, Float, className } from '../../lib/index';
import { codeForStatus, type StatusName } from '../../lib/errors';

const langDir = path.resolve(__dirname, '..', 'lang');

type Display =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: bigint }
  | { t: 'float'; v: number }
  | { t: 'str'; v: string }
  | { t: 'array'; v: Display[] }
  | { t: 'map'; v: Array<[string, Display]> }
  | { t: 'instance'; name: string; v: Array<[string, Display]> }
  | { t: 'enum'; name: string; variant: string };

/** Parses brake's display format (brake_value_format in brake.h). */
export function parseDisplay(text: string): Display {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`bad display value (${what}) at ${i}: ${text}`);
  };
  const str = (): string => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const ident = (): string => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i)) ?? fail('identifier');
    i += m[0].length;
    return m[0];
  };
  const entries = (close: string, key: () => string): Array<[string, Display]> => {
    const out: Array<[string, Display]> = [];
    ws();
    if (text[i] === close) return i++, out;
    for (;;) {
      ws();
      const k = key();
      ws();
      if (text[i++] !== ':') fail("':'");
      out.push([k, value()]);
      ws();
      if (text[i] === ',') i++;
      else if (text[i++] === close) return out;
      else fail(close);
    }
  };
  const value = (): Display => {
    ws();
    const c = text[i];
    if (c === '"') return { t: 'str', v: str() };
    if (c === '[') {
      i++;
      const items: Display[] = [];
      ws();
      if (text[i] === ']') return i++, { t: 'array', v: items };
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i++] === ']') return { t: 'array', v: items };
        else fail("']'");
      }
    }
    if (c === '{') return i++, { t: 'map', v: entries('}', str) };
    const num = /^-?(inf|nan|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(text.slice(i));
    if (num) {
      i += num[0].length;
      const s = num[0];
      if (/inf|nan|[.eE]/.test(s)) return { t: 'float', v: s.includes('nan') ? NaN : s.includes('inf') ? (s[0] === '-' ? -Infinity : Infinity) : Number(s) };
      return { t: 'int', v: BigInt(s) };
    }
    const word = ident();
    if (word === 'null') return { t: 'null' };
    if (word === 'true' || word === 'false') return { t: 'bool', v: word === 'true' };
    if (text[i] === '.') return i++, { t: 'enum', name: word, variant: ident() };
    ws();
    if (text[i] === '{') return i++, { t: 'instance', name: word, v: entries('}', ident) };
    return fail('value');
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

/** An argument in JS form: floats as Float so they cross as floats. */
function toArg(d: Display): unknown {
  switch (d.t) {
    case 'null': return null;
    case 'bool': case 'str': return d.v;
    case 'int': return d.v >= BigInt(Number.MIN_SAFE_INTEGER) && d.v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(d.v) : d.v;
    case 'float': return new Float(d.v);
    case 'array': return d.v.map(toArg);
    case 'map': case 'instance': return Object.fromEntries(d.v.map(([k, v]) => [k, toArg(v)]));
    case 'enum': return d.variant;
  }
}

/** Why `actual` does not match `expected`, or '' when it does. */
function mismatch(expected: Display, actual: unknown, at = '$'): string {
  const bad = `${at}: expected ${JSON.stringify(expected, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}, got ${String(actual)}`;
  switch (expected.t) {
    case 'null': return actual === null ? '' : bad;
    case 'bool': case 'str': return actual === expected.v ? '' : bad;
    case 'int':
      if (typeof actual === 'bigint') return actual === expected.v ? '' : bad;
      return typeof actual === 'number' && Number.isInteger(actual) && BigInt(actual) === expected.v ? '' : bad;
    case 'float':
      if (typeof actual !== 'number') return bad;
      return Object.is(actual, expected.v) || actual === expected.v ? '' : bad;
    case 'enum': return actual === expected.variant ? '' : bad;
    case 'array': {
      if (!Array.isArray(actual) || actual.length !== expected.v.length) return bad;
      for (const [k, item] of expected.v.entries()) {
        const m = mismatch(item, actual[k], `${at}[${k}]`);
        if (m) return m;
      }
      return '';
    }
    case 'map': case 'instance': {
      if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return bad;
      if (expected.t === 'instance' && className(actual) !== expected.name) return `${at}: class ${className(actual)} != ${expected.name}`;
      const keys = Object.keys(actual);
      if (keys.join('\u0000') !== expected.v.map(([k]) => k).join('\u0000')) return `${at}: keys ${JSON.stringify(keys)}`;
      for (const [k, item] of expected.v) {
        const m = mismatch(item, (actual as Record<string, unknown>)[k], `${at}.${k}`);
        if (m) return m;
      }
      return '';
    }
  }
}

interface Spec {
  expect?: string;
  error?: { status: string; text: string };
  compileErrors: Array<{ line: number; column?: number; text: string }>;
  call: string;
  args: string;
}

function readSpec(source: string): Spec {
  const spec: Spec = { compileErrors: [], call: 'main', args: '' };
  for (const raw of source.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('//')) continue;
    const body = line.slice(2).trim();
    let m: RegExpExecArray | null;
    if ((m = /^expect compile error:\s*(\d+)(?::(\d+))?\s*(.*)$/.exec(body))) {
      spec.compileErrors.push({ line: Number(m[1]), column: m[2] ? Number(m[2]) : undefined, text: m[3].trim() });
    } else if ((m = /^expect error:\s*([A-Z_]+)\s*(.*)$/.exec(body))) spec.error = { status: m[1], text: m[2].trim() };
    else if ((m = /^expect:\s*(.*)$/.exec(body))) spec.expect = m[1].trim();
    else if ((m = /^call:\s*(\S+)/.exec(body))) spec.call = m[1];
    else if ((m = /^args:\s*(.*)$/.exec(body))) spec.args = m[1].trim();
  }
  return spec;
}

function listPrograms(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.baml'))
    .map((d) => path.relative(langDir, path.join(d.parentPath ?? (d as any).path, d.name)))
    .sort();
}

const programs = listPrograms(langDir);

describe('test/lang programs through the TS API', () => {
  it('finds the programs', () => {
    expect(programs.length).toBeGreaterThan(0);
  });

  it.each(programs)('%s', async (file) => {
    const source = readFileSync(path.join(langDir, file), 'utf8');
    const spec = readSpec(source);
    let engine: Engine;
    try {
      engine = await Engine.fromSource(source, { fileName: file, workerThreads: 1 });
    } catch (error) {
      if (!(error instanceof CompileError) || spec.compileErrors.length === 0) throw error;
      const left = [...error.diagnostics];
      for (const want of spec.compileErrors) {
        const k = left.findIndex(
          (d) =>
            d.line === want.line &&
            (want.column === undefined || d.column === want.column) &&
            d.message.toLowerCase().includes(want.text.toLowerCase()),
        );
        expect(k, `no diagnostic for ${JSON.stringify(want)} in ${JSON.stringify(error.diagnostics)}`).toBeGreaterThanOrEqual(0);
        left.splice(k, 1);
      }
      expect(left, 'unexpected extra diagnostics').toEqual([]);
      return;
    }
    try {
      expect(spec.compileErrors, 'expected a compile error').toEqual([]);
      const args = spec.args ? (toArg(parseDisplay(`[${spec.args}]`)) as unknown[]) : [];
      let value: unknown;
      let failure: any;
      try {
        value = await engine.call(spec.call, args);
      } catch (error) {
        failure = error;
      }
      if (spec.error) {
        expect(failure, `expected ${spec.error.status}, got value ${String(value)}`).toBeDefined();
        expect(failure.code).toBe(codeForStatus(spec.error.status as StatusName));
        expect(failure.message.toLowerCase()).toContain(spec.error.text.toLowerCase());
      } else {
        if (failure) throw failure;
        expect(spec.expect, 'program has no expectation').toBeDefined();
        expect(mismatch(parseDisplay(spec.expect!), value)).toBe('');
      }
    } finally {
      await engine.close();
    }
  });
});
