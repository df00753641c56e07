// Cancel on HTTP request close: a Node HTTP server answers each request with
// a BAML call, and when the client goes away before the answer (a closed tab,
// a proxy timeout, curl's Ctrl-C) the call stops at once: its sleep, its HTTP
// requests, its LLM retries. Run: npx tsx examples/http-cancel-on-close.mts
// (starts the server, sends one request that waits and one that gives up
// 100 ms after the server took it, prints what happened to each, and exits).
import http from 'node:http';

import { CancelledError, Engine } from '../lib/index';

const source = `
function slow_answer(question: string) -> string {
  baml.sys.sleep(1000);           // stands for an LLM call, an HTTP request, a long loop
  "the answer to " + question
}
`;

const engine = await Engine.fromSource(source);
const arrived = new Map<string, () => void>(); // question -> what the demo's client does once the server has it

const server = http.createServer((req, res) => {
  // One controller per request: aborted when the client's side closes first.
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort(new Error('the client went away'));
  });
  const question = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '?';
  arrived.get(question)?.();
  const started = performance.now();
  engine.call('slow_answer', [question], { signal: gone.signal }).then(
    (answer) => {
      console.log(`server: answered ${JSON.stringify(question)} after ${(performance.now() - started).toFixed(0)} ms`);
      res.end(answer);
    },
    (error) => {
      if (error instanceof CancelledError) {
        console.log(`server: the call for ${JSON.stringify(question)} was cancelled ${(performance.now() - started).toFixed(0)} ms in (${error.origin}: ${String(error.cause?.message ?? '')})`);
      } else {
        res.statusCode = 500;
        res.end(String(error));
      }
    },
  );
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

// A client that waits for its answer, and one that gives up 100 ms after
// the server took its request.
const patient = fetch(`http://127.0.0.1:${port}/?q=patience`).then((r) => r.text());
const hurry = new AbortController();
arrived.set('hurry', () => setTimeout(() => hurry.abort(), 100));
const impatient = fetch(`http://127.0.0.1:${port}/?q=hurry`, { signal: hurry.signal }).catch((e: Error) => `gave up (${e.name})`);
console.log(`client: ${await impatient}`);
console.log(`client: ${await patient}`);
await new Promise((resolve) => setTimeout(resolve, 20));
console.log(`live calls left: ${engine.liveCalls}`);
server.close();
await engine.close();
