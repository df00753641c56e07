// The test HTTP server (http-server.mjs) and the mock LLM server
// (mock-llm.mjs) in a process of their own, for tests that measure the
// test process's memory: both servers keep a record of every request,
// which would otherwise count as the client's. argv[2]: the mock's reply
// text. Sends {http, llm} (their base URLs) on IPC when listening; exits
// when the parent goes.
import { startHttpServer } from './http-server.mjs';
import { startMockLlm } from './mock-llm.mjs';

const http = await startHttpServer();
const llm = await startMockLlm({ reply: process.argv[2] });
process.send({ http: http.url, llm: llm.url });
process.on('disconnect', () => process.exit(0));
