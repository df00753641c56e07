// The mock LLM server (test/support/mock-llm.mjs) that the LLM tests, the
// benchmarks and the demo share: its OpenAI and Anthropic shapes, streaming,
// queued and per-request faults, and its record of arrivals and client
// closes, exercised through baml.http.fetch (so brake's own transport is the
// client) and, for the event streams, through Node's fetch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CancelledError, Engine, httpNativeAvailable } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle } from './helpers';

const SOURCE = `
function send(url: string, mock: string, body: string) -> baml.http.Response {
  baml.http.fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-mock": mock, "x-api-key": "sk-test", "anthropic-version": "2023-06-01" },
    body: body,
  })
}
function status(url: string, mock: string, body: string) -> int { send(url, mock, body).status_code }
function text(url: string, mock: string, body: string) -> string { send(url, mock, body).text() }
function headers(url: string, mock: string, body: string) -> map<string, string> { send(url, mock, body).headers }
function error_of(url: string, mock: string, body: string) -> string {
  let e = send(url, mock, body).error;
  if (e != null) { e } else { "none" }
}
function json_name(url: string, mock: string, body: string) -> string {
  match (send(url, mock, body).json()["object"]) {
    s: string => s,
    _ => "none",
  }
}
`;

type Mock = Awaited<ReturnType<typeof startMockLlm>>;
type Rec = { id: number; provider: string; path: string; headers: Record<string, string>; body: any; closedAt?: number; answered: boolean };

const ASK = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hi' }] });
const ASK_CLAUDE = JSON.stringify({ model: 'claude-3-5-haiku', max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hi' }] }] });

/** The SSE events of a streamed response: [event name or undefined, data text]. */
async function events(url: string, body: unknown, mock = ''): Promise<Array<[string | undefined, string]>> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock': mock }, body: JSON.stringify(body) });
  expect(r.headers.get('content-type')).toBe('text/event-stream');
  const text = await r.text();
  return text
    .split('\n\n')
    .filter((block) => block.length)
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
      return [event, data];
    });
}

let mock: Mock;
let engine: Engine;
let chat: string;
let messages: string;

beforeAll(async () => {
  mock = await startMockLlm();
  engine = await Engine.fromSource(SOURCE, { workerThreads: 1, http: { transport: httpNativeAvailable() ? 'native' : 'host' } });
  chat = `${mock.url}/v1/chat/completions`;
  messages = `${mock.url}/v1/messages`;
});

afterAll(async () => {
  await engine?.close();
  await mock?.close();
});

describe('mock LLM server', () => {
  it('answers in the OpenAI chat-completions shape and records the request', async () => {
    const reply = JSON.parse((await engine.call('text', [chat, '', ASK])) as string);
    expect(reply).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: Say hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: 3, total_tokens: expect.any(Number) },
    });
    expect(await engine.call('json_name', [chat, '', ASK])).toBe('chat.completion');
    const last = mock.requests.at(-1) as Rec;
    expect([last.provider, last.path, last.body.model, last.answered]).toEqual(['openai', '/v1/chat/completions', 'gpt-4o-mini', true]);
  });

  it('answers in the Anthropic messages shape', async () => {
    const reply = JSON.parse((await engine.call('text', [messages, '', ASK_CLAUDE])) as string);
    expect(reply).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-3-5-haiku',
      content: [{ type: 'text', text: 'echo: Say hi' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: expect.any(Number), output_tokens: 3 },
    });
    const last = mock.requests.at(-1) as Rec;
    expect([last.provider, last.headers['x-api-key'], last.headers['anthropic-version']]).toEqual(['anthropic', 'sk-test', '2023-06-01']);
  });

  it('plays queued behaviours in order, a model\'s own queue first', async () => {
    mock.enqueue([{ status: 500 }, { status: 429, retryAfter: 2 }, { content: 'third time' }]);
    mock.enqueue({ content: 'for gpt-x only' }, { model: 'gpt-x' });
    const other = JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] });
    expect(JSON.parse((await engine.call('text', [chat, '', other])) as string).choices[0].message.content).toBe('for gpt-x only');
    const failed = JSON.parse((await engine.call('text', [chat, '', ASK])) as string);
    expect(failed).toEqual({ error: { message: 'mock status 500', type: 'server_error', param: null, code: null } });
    const limited = (await engine.call('headers', [chat, '', ASK])) as Record<string, string>;
    expect(limited['retry-after']).toBe('2');
    expect(JSON.parse((await engine.call('text', [chat, '', ASK])) as string).choices[0].message.content).toBe('third time');
    expect(await engine.call('status', [chat, '', ASK])).toBe(200); // the queue is empty again
    // Anthropic's error shape.
    expect(JSON.parse((await engine.call('text', [messages, JSON.stringify({ status: 529 }), ASK_CLAUDE])) as string)).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'mock status 529' },
    });
  });

  it('streams server-sent events in each provider\'s shape', async () => {
    const openai = await events(chat, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    expect(openai.at(-1)).toEqual([undefined, '[DONE]']);
    const chunks = openai.slice(0, -1).map(([, d]) => JSON.parse(d));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('echo: one two three');
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');

    const claude = await events(messages, { model: 'claude-3-5-haiku', stream: true, max_tokens: 9, messages: [{ role: 'user', content: 'a b' }] }, JSON.stringify({ chunks: ['x', 'y'] }));
    expect(claude.map(([e]) => e)).toEqual([
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    expect(claude.filter(([e]) => e === 'content_block_delta').map(([, d]) => JSON.parse(d).delta.text)).toEqual(['x', 'y']);
    expect(JSON.parse(claude[6]![1]).delta.stop_reason).toBe('end_turn');
  });

  it('delays, cuts, closes and garbles on demand', async () => {
    const t0 = performance.now();
    expect(await engine.call('status', [chat, JSON.stringify({ delayMs: 60 }), ASK])).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(await engine.call('status', [chat, JSON.stringify({ close: 'before-headers' }), ASK])).toBe(0);
    expect(await engine.call('error_of', [chat, JSON.stringify({ close: 'mid-body' }), ASK])).not.toBe('none');
    const garbled = await settle(engine.call('json_name', [chat, JSON.stringify({ malformed: true }), ASK]));
    expect((garbled.error as { kind?: string }).kind).toBe('json_parse_error');
    const finish = JSON.parse((await engine.call('text', [chat, JSON.stringify({ finishReason: 'length', content: 'cut off' }), ASK])) as string);
    expect([finish.choices[0].finish_reason, finish.choices[0].message.content]).toEqual(['length', 'cut off']);
  });

  it('records when a cancelled client closes its connection', async () => {
    const before = mock.requests.length;
    const controller = new AbortController();
    const p = engine.call('status', [chat, JSON.stringify({ hang: true }), ASK], { signal: controller.signal });
    await mock.waitForRequests(before + 1);
    const hung = mock.requests[before] as Rec;
    const t0 = performance.now();
    controller.abort();
    expect((await settle(p)).error).toBeInstanceOf(CancelledError);
    const closed = await mock.waitForClose(hung);
    expect(closed).toBeDefined();
    expect(closed! - t0).toBeLessThan(1000);
    expect(hung.answered).toBe(false);
  });

  it('serves its record to other processes as JSON', async () => {
    const list = (await (await fetch(`${mock.url}/requests`)).json()) as Rec[];
    expect(list.length).toBe(mock.requests.length);
    expect(list[0]).toMatchObject({ id: 1, provider: 'openai' });
  });
});
