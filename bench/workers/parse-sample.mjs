// One sample of the typed-output benchmark (bench/scenarios/parse.mjs): a
// realistic 4 KB model reply (a sentence, the order as JSON in a markdown
// fence, a closing sentence) parsed into a nested class over and over for
// `durationMs` after `warmupMs`, on this thread.
//   spec: { variant: 'brake' | 'baml' | 'json', warmupMs, durationMs }
//   brake  engine.parse('ExtractOrder', reply)
//   baml   BAML's own parser through its generated client (b.parse.ExtractOrder)
//   json   the floor for strict JSON: the fence's content through JSON.parse
//          and a hand-written check of every field
//   write  writes the program and the reply to spec.dir (parse.baml,
//          reply.txt) for the native sample (bench/native/parse_bench.c)
// Every variant's value is checked to be the same order once. Prints one
// JSON line: { usPerReply, mbPerSec, bytes }.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const spec = JSON.parse(process.argv[2]);
const benchDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

// The brake program: the declarations of bench/peers/baml/baml_src/parse.baml.
const SOURCE = `
enum OrderStatus {
  Pending
  Shipped
  Delivered
  Cancelled
}
class Address {
  street string
  city string
  zip string
  country string
}
class Customer {
  name string
  email string
  address Address
}
class LineItem {
  sku string
  name string
  quantity int
  unit_price float
  tags string[]
}
class Order {
  id string
  status OrderStatus
  customer Customer
  items LineItem[]
  notes string?
  total float
}
client<llm> ParseOnly {
  provider openai-generic
  options {
    base_url "http://127.0.0.1:9/v1"
    model "unused"
    api_key "unused"
  }
}
function ExtractOrder(text: string) -> Order {
  client ParseOnly
  prompt #"
    Extract the order from: {{ text }}
    {{ ctx.output_format }}
  "#
}
`;

/** The order as the reply holds it. */
function order() {
  const items = Array.from({ length: 16 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    name: `Item number ${i + 1}, ${['blue', 'green', 'red', 'black'][i % 4]} ${['mug', 'lamp', 'chair', 'notebook'][i % 4]}`,
    quantity: 1 + (i % 5),
    unit_price: Math.round((3.5 + i * 2.25) * 100) / 100 + 0.01,
    tags: ['home', i % 2 ? 'sale' : 'new', `batch-${i % 3}`],
  }));
  return {
    id: 'ORD-2026-000123',
    status: 'Shipped',
    customer: {
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      address: { street: '12 St James Square', city: 'London', zip: 'SW1Y 4JH', country: 'United Kingdom' },
    },
    items,
    notes: 'Leave the parcel with the concierge if nobody answers the door.',
    total: Math.round(items.reduce((t, x) => t + x.quantity * x.unit_price, 0) * 100) / 100,
  };
}

const EXPECTED = order();
const REPLY = `Sure! Here is the order I extracted from the email, as JSON matching the schema you gave:\n\n\`\`\`json\n${JSON.stringify(EXPECTED, null, 2)}\n\`\`\`\n\nLet me know if you need anything else about this order.`;

/** Throws unless `v` is the order (numbers by value). */
function checkOrder(v) {
  const same = (a, b) => (typeof a === 'number' ? Math.abs(a - Number(b)) < 1e-9 : JSON.stringify(a) === JSON.stringify(b));
  const bad = (what) => {
    throw new Error(`${spec.variant} parsed a different order (${what}): ${JSON.stringify(v)?.slice(0, 200)}`);
  };
  if (v?.id !== EXPECTED.id || v.status !== EXPECTED.status || v.notes !== EXPECTED.notes || !same(EXPECTED.total, v.total)) bad('top level');
  if (!same(EXPECTED.customer, { ...v.customer, address: { ...v.customer?.address } })) bad('customer');
  if (v.items?.length !== EXPECTED.items.length) bad('items');
  EXPECTED.items.forEach((x, i) => {
    const y = v.items[i];
    if (y.sku !== x.sku || y.name !== x.name || !same(x.quantity, y.quantity) || !same(x.unit_price, y.unit_price) || !same(x.tags, y.tags)) bad(`item ${i}`);
  });
  return v;
}

// The floor: strict JSON out of the fence, then every field checked by hand.
const STATUSES = new Set(['Pending', 'Shipped', 'Delivered', 'Cancelled']);
function jsonParse(text) {
  const open = text.indexOf('```json');
  const start = text.indexOf('\n', open) + 1;
  const end = text.indexOf('```', start);
  const o = JSON.parse(text.slice(start, end));
  const str = (x, what) => {
    if (typeof x !== 'string') throw new Error(`${what}: expected string`);
    return x;
  };
  const num = (x, what) => {
    if (typeof x !== 'number') throw new Error(`${what}: expected number`);
    return x;
  };
  if (!o || typeof o !== 'object') throw new Error('expected an object');
  if (!STATUSES.has(o.status)) throw new Error('status: not an OrderStatus');
  const c = o.customer;
  const a = c?.address;
  if (!a || typeof a !== 'object') throw new Error('customer.address: expected an object');
  if (!Array.isArray(o.items)) throw new Error('items: expected an array');
  return {
    id: str(o.id, 'id'),
    status: o.status,
    customer: { name: str(c.name, 'name'), email: str(c.email, 'email'), address: { street: str(a.street, 'street'), city: str(a.city, 'city'), zip: str(a.zip, 'zip'), country: str(a.country, 'country') } },
    items: o.items.map((x, i) => {
      if (!Number.isInteger(x?.quantity)) throw new Error(`items[${i}].quantity: expected int`);
      if (!Array.isArray(x.tags)) throw new Error(`items[${i}].tags: expected an array`);
      return { sku: str(x.sku, 'sku'), name: str(x.name, 'name'), quantity: x.quantity, unit_price: num(x.unit_price, 'unit_price'), tags: x.tags.map((t) => str(t, 'tag')) };
    }),
    notes: o.notes === undefined || o.notes === null ? null : str(o.notes, 'notes'),
    total: num(o.total, 'total'),
  };
}

async function parser() {
  if (spec.variant === 'brake') {
    const { Engine } = await import('../../dist/index.mjs');
    const engine = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    return { parse: (text) => engine.parse('ExtractOrder', text, { timeoutMs: 0 }), close: () => engine.close() };
  }
  if (spec.variant === 'baml') {
    require('tsx/cjs/api').register();
    const { b } = require(`${benchDir}/peers/baml/baml_client/index.ts`);
    return { parse: (text) => b.parse.ExtractOrder(text), close: async () => {} };
  }
  if (spec.variant === 'json') return { parse: jsonParse, close: async () => {} };
  throw new Error(`unknown variant ${spec.variant}`);
}

if (spec.variant === 'write') {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${spec.dir}/parse.baml`, SOURCE);
  writeFileSync(`${spec.dir}/reply.txt`, REPLY);
  process.stdout.write(`${JSON.stringify({ bytes: Buffer.byteLength(REPLY) })}\n`);
  process.exit(0);
}

const p = await parser();
const first = p.parse(REPLY);
if (typeof first?.then === 'function') throw new Error(`${spec.variant}: parse returned a promise`);
checkOrder(first);
const run = (ms) => {
  let n = 0;
  const until = performance.now() + ms;
  const t0 = performance.now();
  // Batches of 16 between clock reads.
  while (performance.now() < until) {
    for (let i = 0; i < 16; i++) p.parse(REPLY);
    n += 16;
  }
  return { n, ms: performance.now() - t0 };
};
run(spec.warmupMs);
const { n, ms } = run(spec.durationMs);
await p.close();
const bytes = Buffer.byteLength(REPLY);
const usPerReply = (ms * 1000) / n;
process.stdout.write(`${JSON.stringify({ usPerReply, mbPerSec: bytes / usPerReply, bytes })}\n`);
process.exit(0);
