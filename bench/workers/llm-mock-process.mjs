// The mock LLM server (test/support/mock-llm.mjs) in a process of its own,
// for the LLM throughput samples (bench/workers/llm-sample.mjs), so its CPU
// is not the client's. argv[2]: the reply text (the message content every
// completion carries). Sends {url} on IPC when listening, and
// {requests: count} when asked with 'count'; exits when the parent goes.
import { startMockLlm } from '../../test/support/mock-llm.mjs';

const mock = await startMockLlm({ reply: process.argv[2] });
process.on('message', (m) => {
  if (m === 'count') process.send({ requests: mock.requests.length });
});
// The record keeps every request (headers and parsed body) on its socket as
// well; over a throughput sample that is tens of thousands of entries, kept:
// a few tens of MB, and the same for every client measured.
process.send({ url: mock.url });
process.on('disconnect', () => process.exit(0));
