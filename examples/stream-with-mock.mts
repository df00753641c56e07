// A streamed LLM call against the repository's mock LLM server: partial
// values of the typed result as the model writes, the final value, then a
// stream the reader leaves early (its connection closes at once).
// Run: npx tsx examples/stream-with-mock.mts
import { CancelledError, Engine } from '../lib/index';
// @ts-expect-error: a plain ES module without types (shared with the tests and benchmarks)
import { startMockLlm } from '../test/support/mock-llm.mjs';

const mock = await startMockLlm({ reply: () => '{"name": "Ada Lovelace", "born": 1815, "known_for": ["the first program", "notes on the Analytical Engine"]}' });

const engine = await Engine.fromSource(
  `
class Person {
  name string
  born int
  known_for string[]
}
client<llm> Local {
  provider openai-generic
  options { base_url env.LLM_BASE_URL model "mock" api_key "unused" }
}
function Extract(text: string) -> Person {
  client Local
  prompt #"
    Extract the person from: {{ text }}
    {{ ctx.output_format }}
  "#
}
`,
  { env: { LLM_BASE_URL: `${mock.url}/v1` } },
);

// The mock sends a word every 10 ms; each partial value is printed as it comes.
mock.enqueue({ chunkDelayMs: 10 });
const stream = engine.stream('Extract', ['Ada Lovelace, 1815, wrote the first program.']);
let partials = 0;
for await (const ev of stream) {
  if (ev.kind === 'attempt') console.log(`attempt ${ev.attempt} with client ${ev.client}`);
  if (ev.kind === 'partial') {
    partials++;
    console.log(`partial: ${JSON.stringify(ev.value)}`);
  }
}
const person = (await stream.final) as { name: string; born: number; known_for: string[] };
console.log(`final: ${person.name}, born ${person.born}, known for ${person.known_for.length} things (${partials} partial values before)`);

// This time the reader stops after the first text: the call is cancelled.
mock.enqueue({ chunkDelayMs: 50 });
const early = engine.stream('Extract', ['anyone']);
for await (const ev of early) if (ev.kind === 'delta') break;
const error = await early.final.catch((e: unknown) => e);
const closedAt = await mock.waitForClose(mock.requests.at(-1));
console.log(`left early: cancelled ${error instanceof CancelledError}, the mock saw the connection close: ${closedAt !== undefined}`);
await engine.close();
await mock.close();
