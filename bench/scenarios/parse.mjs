// Typed outputs: a realistic 4 KB model reply (prose around a markdown-fenced
// JSON order) parsed into a nested class, one sample per process
// (bench/workers/parse-sample.mjs). brake (engine.parse) against BAML's own
// parser through its Node runtime (b.parse.ExtractOrder, the same
// declarations: bench/peers/baml/baml_src/parse.baml) and the floor for
// strict JSON (the fence's content through JSON.parse and a hand-written
// check of every field), all on one thread; and the native part alone
// through brake.h (bench/native/parse_bench.c).
import { existsSync } from 'node:fs';

export default {
  name: 'parse',
  title: 'Typed outputs: parsing a 4 KB model reply into a nested class',
  baml: true,
  async run(ctx) {
    const worker = `${ctx.benchDir}/workers/parse-sample.mjs`;
    const label = { brake: 'brake (engine.parse)', baml: `BAML runtime ${ctx.baml.version ?? ''} (b.parse)`.trim(), json: 'JSON.parse + hand-written check (floor)' };
    const variants = ['brake', ...(ctx.baml.available ? ['baml'] : []), 'json'];
    const spec = { warmupMs: ctx.quick ? 200 : 500, durationMs: ctx.quick ? 500 : 2000 };
    const values = await ctx.alternate(
      variants,
      (variant) => ctx.runJson(process.execPath, [worker, JSON.stringify({ ...spec, variant })], { cwd: ctx.root, env: variant === 'baml' ? { BAML_LOG: 'error' } : {}, timeoutMs: 120_000 }),
      (r) => `${r.usPerReply.toFixed(1)} µs per reply, ${r.mbPerSec.toFixed(1)} MB/s`,
      ctx.runs,
      'parse',
    );
    // The native part alone (bench/native/parse_bench.c: brake.h, no JS):
    // the reply as JSON text for the host, and as a brake_value tree.
    const bin = ctx.nativeBin('parse_bench');
    const nativeLabel = { jsonUs: 'brake.h brake_engine_parse_json (native part)', treeUs: 'brake.h brake_engine_parse (tree)' };
    const native = { jsonUs: [], treeUs: [] };
    if (existsSync(bin)) {
      await ctx.runJson(process.execPath, [worker, JSON.stringify({ variant: 'write', dir: ctx.tmpDir })], { cwd: ctx.root });
      for (let r = 0; r < ctx.runs; r++) {
        const x = await ctx.runJson(bin, [`${ctx.tmpDir}/parse.baml`, 'ExtractOrder', `${ctx.tmpDir}/reply.txt`, String(spec.durationMs)], { timeoutMs: 120_000 });
        native.jsonUs.push(x.jsonUs);
        native.treeUs.push(x.treeUs);
      }
    }
    const figures = [];
    for (const v of ['brake', 'baml', 'json']) {
      if (!values[v]) {
        figures.push(ctx.unavailable({ metric: 'µs per reply', variant: label[v], reason: ctx.baml.reason }));
        continue;
      }
      figures.push(ctx.figure({ metric: 'µs per reply', variant: label[v], unit: 'µs', better: 'lower', values: values[v].map((r) => r.usPerReply) }));
      figures.push(ctx.figure({ metric: 'MB/s', variant: label[v], unit: 'MB/s', better: 'higher', values: values[v].map((r) => r.mbPerSec) }));
    }
    for (const k of ['jsonUs', 'treeUs'])
      if (native[k].length) figures.push(ctx.figure({ metric: 'µs per reply', variant: nativeLabel[k], unit: 'µs', better: 'lower', values: native[k] }));
    const bytes = Object.values(values)[0]?.[0]?.bytes;
    return {
      figures,
      headline: (h) => h.row('parse a 4 KB reply into a nested class: µs per reply', [['µs per reply', label.brake]], [['µs per reply', label.baml], ['µs per reply', label.json]]),
      charts: [ctx.bars({ file: 'parse', title: 'Parsing a 4 KB model reply into a nested class (µs per reply)', unit: 'µs', figures: figures.filter((f) => f.metric === 'µs per reply' && !f.unavailable) })],
      notes: [
        `The reply (${bytes} bytes): a sentence, an Order as indented JSON in a \`\`\`json fence (an enum, a nested Customer with an Address, 16 LineItems of five fields each with a string list, an optional note, a float total), a closing sentence. Each sample process parses it over and over on its one thread for ${spec.durationMs} ms after ${spec.warmupMs} ms of warm-up (the same text each time) and checks once that the value is the order. brake: engine.parse('ExtractOrder', reply), the result a JS object as a call returns it. BAML: b.parse.ExtractOrder(reply) through the generated client, BAML_LOG=error. Floor: the fence's content sliced out, JSON.parse, every field's type checked and the value rebuilt by hand (strict JSON only: nothing is repaired or coerced).`,
        'brake.h rows (bench/native/parse_bench, no JS): the same reply parsed through the C ABI on one thread; brake_engine_parse_json is the native part of engine.parse (the rest is V8 building the object from that JSON, and marking the class instances), brake_engine_parse gives the brake_value tree an FFI host walks.',
      ],
    };
  },
};
