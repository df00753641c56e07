// The typed-output part of `npm run conformance`: BAML's own parser cases
// (../shared/conformance/sap-corpus.jsonl) through brake's public entry
// point, engine.parse. Each case becomes a program: its declarations and an
// LLM function returning the case's target type; the case's text is parsed
// as that function's reply (partially for the streaming cases).
//
// Categories, as the issue measures them: complete parses
// (test_deserializer and the hand-written case), failing parses
// (test_failing_deserializer: must throw ParseError) and partial parses
// (test_partial_deserializer*). Cases that assert BAML's internal score
// (test_deserializer_with_expected_score) are counted apart: brake has no
// such score. Streaming attributes written on the target itself
// (`Foo @stream.not_null`) go on the function's return type, as written.
import { CompileError, Engine, ParseError } from '../dist/index.mjs';

/** The category a case counts in: 'complete', 'failing', 'partial' or 'score'. */
export function sapCategory(r) {
  if (r.macro === 'test_deserializer_with_expected_score') return 'score';
  if (r.macro === 'test_failing_deserializer') return 'failing';
  if (r.streaming || r.macro.startsWith('test_partial_deserializer')) return 'partial';
  return 'complete';
}

// Does a parsed JS value equal the case's expected JSON? Numbers by value,
// objects by their keys (instances carry every field), arrays in order.
function same(expected, actual) {
  if (expected === null || typeof expected !== 'object') {
    if (typeof actual === 'bigint') actual = Number(actual);
    if (typeof expected === 'number') return typeof actual === 'number' && (actual === expected || Math.abs(actual - expected) < 1e-9 * Math.max(1, Math.abs(expected)));
    return actual === expected;
  }
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((x, i) => same(x, actual[i]));
  if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const keys = Object.keys(expected);
  return keys.length === Object.keys(actual).length && keys.every((k) => k in actual && same(expected[k], actual[k]));
}

// For messages: JSON, with bigints (ints past 2^53) as numbers.
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? Number(x) : x))?.slice(0, 300);

const engines = new Map();
async function engineFor(r) {
  const target = r.target;
  const source = `${r.baml}\nfunction __Parse(text: string) -> ${target} {\n  client "openai/gpt-4o"\n  prompt #"{{ text }}"#\n}\n`;
  let entry = engines.get(source);
  if (!entry) {
    try {
      entry = { engine: await Engine.fromSource(source, { workerThreads: 1 }) };
    } catch (error) {
      entry = { error: error instanceof CompileError ? `does not compile: ${error.message.split('\n').slice(0, 3).join(' | ')}` : String(error) };
    }
    engines.set(source, entry);
  }
  return entry;
}

/** Runs one case: { outcome: 'pass' | 'fail', reason? }. */
export async function runSapRecord(r) {
  const { engine, error } = await engineFor(r);
  if (!engine) return { outcome: 'fail', reason: error };
  let value;
  try {
    value = engine.parse('__Parse', r.raw, { partial: sapCategory(r) === 'partial', timeoutMs: 10_000 });
  } catch (e) {
    if (r.fails && e instanceof ParseError) return { outcome: 'pass' };
    return { outcome: 'fail', reason: `threw ${e?.name}: ${String(e?.message).slice(0, 300)}` };
  }
  if (r.fails) return { outcome: 'fail', reason: `should fail, got ${show(value)}` };
  if (same(r.expected, value)) return { outcome: 'pass' };
  return { outcome: 'fail', reason: `expected ${show(r.expected)}, got ${show(value)}` };
}

export async function closeSapEngines() {
  for (const { engine } of engines.values()) await engine?.close();
  engines.clear();
}
