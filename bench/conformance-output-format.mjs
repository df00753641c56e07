// The output-format part of the conformance yardstick: BAML's own renderings
// of {{ ctx.output_format }} (../shared/conformance/prompt-render.jsonl,
// records of kind output_format_baml and output_format_schema) through
// brake's real pipeline.
//
//   node bench/conformance-output-format.mjs [--records PATH] [--json OUT]
//
// Each record becomes a program: its declarations (`baml`; for a schema
// record, the transcription of its schema), a client, and an LLM function
// `F -> <target>` whose prompt is the record's template (which passes the
// record's render_options as keyword arguments: ctx.output_format(prefix=null),
// ...) and whose parameters are typed from the record's arguments. The text
// engine.renderPrompt renders (the public API: what the client would be
// sent) must equal the record's `expected` exactly; a record whose format
// renders nothing (render_returned_none) expects the empty string.
//
// BAML's two engines disagree in places; brake renders the newer engine's
// text (engine "new"). The older engine's ("legacy") records are measured
// too, except those that contradict a "new" record: they are left out (not
// measured) and listed in OUT_OF_SCOPE with the record they contradict:
// - a field's @description: "new" writes it after the field's comma
//   (`age: int, // Age in years`, output_format.rs::test_render_class), the
//   legacy engine on a `//` line above the field;
// - the order of hoisted recursive classes: "new" sorts them by name
//   (`Forest` before `Tree`, llm_render.rs::
//   test_output_format_mutually_recursive_classes), the legacy test lists
//   them as its hand-made schema does;
// - an array of classes: "new" writes `{ ... }[]`
//   (llm_render.rs::test_output_format_class_list), the legacy engine a
//   bracketed block `[ { ... } ]`.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CompileError, Engine } from '../dist/index.mjs';

const KINDS = new Set(['output_format_baml', 'output_format_schema']);

/** Legacy records that contradict a "new" record: id -> why (not measured). */
export const OUT_OF_SCOPE = {
  'types.rs::render_class':
    'legacy writes a field description on a // line above the field; new writes it after the comma (output_format.rs::test_render_class)',
  'types.rs::render_class_with_multiline_descriptions':
    'legacy writes field descriptions on // lines above the fields; new writes them after the comma (output_format.rs::test_render_class)',
  'types.rs::mutually_recursive_list':
    'legacy lists hoisted recursive classes as given (Tree, Forest); new sorts them by name (llm_render.rs::test_output_format_mutually_recursive_classes)',
  'render_output_format.rs::test_render_output_format':
    'legacy renders an array of classes as a [ ... ] block; new as { ... }[] (llm_render.rs::test_output_format_class_list)',
};

/** The records this runner measures. */
export function outputFormatRecords(lines) {
  return lines.filter((r) => KINDS.has(r.kind) && !(r.id in OUT_OF_SCOPE));
}

/** A BAML type for a record's argument value (the records pass strings). */
function typeOf(v) {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  throw new Error(`argument type not supported by this runner: ${JSON.stringify(v)}`);
}

/** #"..."# with enough hashes for the text. */
function raw(text) {
  let hashes = '#';
  while (text.includes(`"${hashes}`)) hashes += '#';
  return `${hashes}"${text}"${hashes}`;
}

/** A Jinja literal for a render option's value. */
function jinjaValue(v) {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(jinjaValue).join(', ')}]`;
  return JSON.stringify(v);
}

/** The template: the record's own, or one that passes its render_options. */
function templateOf(r) {
  if (r.template) return r.template;
  const opts = Object.entries(r.render_options ?? {});
  if (!opts.length) return '{{ ctx.output_format }}';
  return `{{ ctx.output_format(${opts.map(([k, v]) => `${k}=${jinjaValue(v)}`).join(', ')}) }}`;
}

/** The program and the call for a record. */
export function programFor(r) {
  const args = r.args ?? {};
  const names = Object.keys(args);
  const params = names.map((n) => `${n}: ${typeOf(args[n])}`).join(', ');
  const source = `${r.baml ?? ''}\nfunction F(${params}) -> ${r.target} {\n  client "openai/gpt-4o"\n  prompt ${raw(templateOf(r))}\n}\n`;
  return { source, fn: 'F', args: names.map((n) => args[n]) };
}

/** brake's text of the rendered prompt (a completion: its one message's text). */
function renderedText(p) {
  return p.messages.map((m) => m.parts.map((x) => x.text ?? '').join('')).join('\n');
}

/** Runs one record: { outcome: 'pass' | 'fail', reason? } (never throws). */
export async function runOutputFormatRecord(r) {
  let program, engine;
  try {
    program = programFor(r);
    engine = await Engine.fromSource(program.source, { workerThreads: 1 });
  } catch (error) {
    if (error instanceof CompileError) {
      const why = error.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('; ');
      return { outcome: 'fail', reason: `compile error: ${why}` };
    }
    return { outcome: 'fail', reason: `${error?.name}: ${error?.message}` };
  }
  const { fn, args } = program;
  try {
    let prompt;
    try {
      prompt = engine.renderPrompt(fn, args);
    } catch (error) {
      return { outcome: 'fail', reason: `${error.name}: ${error.message}` };
    }
    const text = renderedText(prompt);
    const expected = r.render_returned_none === true ? '' : r.expected;
    if (text === expected) return { outcome: 'pass' };
    return { outcome: 'fail', reason: `expected ${JSON.stringify(expected)}, got ${JSON.stringify(text)}` };
  } finally {
    await engine.close();
  }
}

async function main() {
  const here = dirname(fileURLToPath(import.meta.url));
  const argv = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
  };
  const path = resolve(option('--records', resolve(here, '../../shared/conformance/prompt-render.jsonl')));
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const records = outputFormatRecords(lines);
  const failures = [];
  let pass = 0;
  for (const r of records) {
    const { outcome, reason } = await runOutputFormatRecord(r);
    if (outcome === 'pass') pass++;
    else failures.push({ id: r.id, engine: r.engine, reason });
  }
  const skipped = lines.filter((r) => KINDS.has(r.kind) && r.id in OUT_OF_SCOPE);
  const pct = records.length ? ((100 * pass) / records.length).toFixed(1) : '0.0';
  console.log(`output_format: ${pass} of ${records.length} records pass (${pct}%); ${skipped.length} legacy records out of scope`);
  for (const f of failures) console.log(`  FAIL ${f.id} [${f.engine}]: ${f.reason}`);
  for (const r of skipped) console.log(`  OUT OF SCOPE ${r.id}: ${OUT_OF_SCOPE[r.id]}`);
  const out = option('--json', undefined);
  if (out) writeFileSync(out, JSON.stringify({ pass, total: records.length, failures, outOfScope: OUT_OF_SCOPE }, null, 2));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
