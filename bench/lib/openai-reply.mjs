// The small OpenAI-shaped chat completion both HTTP benchmark servers send
// (bench/workers/http-server-process.mjs and nginx, bench/lib/nginx.mjs).
export const REPLY = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1700000000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 },
});
