// An LLM function returning a typed value, against the repository's mock LLM
// server (an OpenAI-compatible endpoint on 127.0.0.1: no API key, no
// network), and the same call cancelled while the model is still answering.
// Run: npx tsx examples/llm-with-mock.mts
import { CancelledError, Engine, className } from '../lib/index';
// @ts-expect-error: a plain ES module without types (shared with the tests and benchmarks)
import { startMockLlm } from '../test/support/mock-llm.mjs';

const mock = await startMockLlm({ reply: () => 'Here you go:\n```json\n{"name": "Ada Lovelace", "born": 1815}\n```' });

const engine = await Engine.fromSource(
  `
class Person {
  name string
  born int @description("the year")
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

const person = (await engine.call('Extract', ['Ada Lovelace was born in 1815.'])) as { name: string; born: number };
console.log(`${className(person)}: ${person.name}, born ${person.born}`);

// The model takes 2 s this time; the caller stops waiting after 30 ms.
mock.enqueue({ delayMs: 2000 });
const started = performance.now();
const error = await engine.call('Extract', ['anyone'], { signal: AbortSignal.timeout(30) }).catch((e: unknown) => e);
console.log(`cancelled: ${error instanceof CancelledError} after ${(performance.now() - started).toFixed(0)} ms`);
await engine.close();
await mock.close();
