// Typed outputs: a realistic 4 KB model reply (prose around a markdown-fenced
// JSON order) parsed into a nested class, one sample per process
// (bench/workers/parse-sample.mjs). brake (engine.parse) against BAML's own
// parser through its Node runtime (b.parse.ExtractOrder, the same
// declarations: bench/peers/baml/baml_src/parse.baml) and the floor for
// strict JSON (the fence's content through JSON.parse and a hand-written
// check of every field), all on one thread.
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
    const figures = [];
    for (const v of ['brake', 'baml', 'json']) {
      if (!values[v]) {
        figures.push(ctx.unavailable({ metric: 'µs per reply', variant: label[v], reason: ctx.baml.reason }));
        continue;
      }
      figures.push(ctx.figure({ metric: 'µs per reply', variant: label[v], unit: 'µs', better: 'lower', values: values[v].map((r) => r.usPerReply) }));
      figures.push(ctx.figure({ metric: 'MB/s', variant: label[v], unit: 'MB/s', better: 'higher', values: values[v].map((r) => r.mbPerSec) }));
    }
    const bytes = Object.values(values)[0]?.[0]?.bytes;
    return {
      figures,
      headline: (h) => h.row('parse a 4 KB reply into a nested class: µs per reply', [['µs per reply', label.brake]], [['µs per reply', label.baml], ['µs per reply', label.json]]),
      charts: [ctx.bars({ file: 'parse', title: 'Parsing a 4 KB model reply into a nested class (µs per reply)', unit: 'µs', figures: figures.filter((f) => f.metric === 'µs per reply' && !f.unavailable) })],
      notes: [
        `The reply (${bytes} bytes): a sentence, an Order as indented JSON in a \`\`\`json fence (an enum, a nested Customer with an Address, 16 LineItems of five fields each with a string list, an optional note, a float total), a closing sentence. Each sample process parses it over and over on its one thread for ${spec.durationMs} ms after ${spec.warmupMs} ms of warm-up (the same text each time) and checks once that the value is the order. brake: engine.parse('ExtractOrder', reply), the result a JS object as a call returns it. BAML: b.parse.ExtractOrder(reply) through the generated client, BAML_LOG=error. Floor: the fence's content sliced out, JSON.parse, every field's type checked and the value rebuilt by hand (strict JSON only: nothing is repaired or coerced).`,
      ],
    };
  },
};
