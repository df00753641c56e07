// Environment variables for scripts (env.NAME, env.get, env.get_or_panic):
// only what the engine's `env` option gives, never the process environment;
// a missing one is a typed ScriptError naming it; and the usual use, an API
// key sent with baml.http.fetch, against the mock LLM server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine, ScriptError } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle } from './helpers';

const SOURCE = `
function key() -> string { env.OPENAI_API_KEY }
function get(name: string) -> string? { env.get(name) }
function must(name: string) -> string { env.get_or_panic(name) }
function ask(base: string) -> string {
  let r = baml.http.fetch(base + "/v1/chat/completions", {
    method: "POST",
    headers: { "authorization": "Bearer " + env.OPENAI_API_KEY },
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
  });
  r.text()
}
`;

let mock: Awaited<ReturnType<typeof startMockLlm>>;
beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock?.close();
});

describe('env', () => {
  it('reads what the env option gives, and only that', async () => {
    process.env.BRAKE_FROM_PROCESS = 'not for scripts';
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1, env: { OPENAI_API_KEY: 'sk-test', LEFT_OUT: undefined } });
    try {
      expect(await e.call('key')).toBe('sk-test');
      expect(await e.call('must', ['OPENAI_API_KEY'])).toBe('sk-test');
      expect(await e.call('get', ['LEFT_OUT'])).toBeNull();
      expect(await e.call('get', ['BRAKE_FROM_PROCESS'])).toBeNull();
      const missing = (await settle(e.call('must', ['BRAKE_FROM_PROCESS']))).error as ScriptError;
      expect(missing).toBeInstanceOf(ScriptError);
      expect(missing.kind).toBe('missing_env');
      expect(missing.message).toContain("'BRAKE_FROM_PROCESS'");
    } finally {
      delete process.env.BRAKE_FROM_PROCESS;
      await e.close();
    }
  });

  it('has nothing to read by default: env.NAME is a missing_env error', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    try {
      const error = (await settle(e.call('key'))).error as ScriptError;
      expect([error.kind, error.frames[0]?.function]).toEqual(['missing_env', 'key']);
      expect(error.message).toContain("'OPENAI_API_KEY'");
    } finally {
      await e.close();
    }
  });

  it('carries an API key to a request', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1, env: { OPENAI_API_KEY: 'sk-from-env' } });
    try {
      const reply = JSON.parse((await e.call('ask', [mock.url])) as string);
      expect(reply.choices[0].message.content).toBe('echo: hi');
      expect(mock.requests.at(-1).headers.authorization).toBe('Bearer sk-from-env');
    } finally {
      await e.close();
    }
  });

  it('refuses an env option that is not an object of strings', async () => {
    for (const env of [42, 'X=1', ['X'], { X: 1 }, { X: null }]) {
      await expect(Engine.fromSource(SOURCE, { env: env as never })).rejects.toThrow(TypeError);
    }
  });
});
