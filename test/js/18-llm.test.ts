// LLM functions end to end against the mock LLM server (test/support/mock-llm.mjs):
// clients and providers, retry policies, fallback and round-robin, typed
// outputs, LlmError with every attempt, and cancellation at every step of a
// client's plan (before the call, in flight, in a backoff, on a deadline),
// counted at the mock. Each case runs over the native transport and over the
// host transport (Node's fetch), which must behave alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CancelledError,
  CompileError,
  Engine,
  EngineClosedError,
  LlmError,
  ScriptError,
  TimeoutError,
  httpNativeAvailable,
} from '../../lib/index';
import type { EngineOptions } from '../../lib/index';
// @ts-expect-error: a plain ES module without types, shared with bench/ and the demo
import { startMockLlm } from '../support/mock-llm.mjs';
import { settle, sleep } from './helpers';

type Mock = Awaited<ReturnType<typeof startMockLlm>>;
type Rec = { id: number; provider: string; path: string; headers: Record<string, string>; body: any; arrivedAt: number; closedAt?: number };

let mock: Mock;

beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock?.close();
});

/** The requests the mock received for `model`. */
function of(model: string): Rec[] {
  return mock.requests.filter((r: Rec) => r.body?.model === model);
}

const HEADER = `
class Person {
  name string
  age int
}
enum Mood {
  Happy
  Sad @alias("down")
}
retry_policy Quick {
  max_retries 2
  strategy { type constant_delay delay_ms 20 }
}
retry_policy Slow {
  max_retries 3
  strategy { type constant_delay delay_ms 5000 }
}
`;

/** An openai-generic client on the mock for `model` (and an optional retry policy). */
function client(name: string, model: string, extra = ''): string {
  return `client<llm> ${name} {
  provider openai-generic
  ${extra}
  options { base_url env.MOCK_V1 model "${model}" api_key "sk-test" }
}
`;
}

const transports: Array<[string, () => EngineOptions]> = [
  ['host transport', () => ({ http: { transport: 'host' } })],
];
if (httpNativeAvailable) transports.unshift(['native transport', () => ({})]);

for (const [label, transportOptions] of transports) {
  describe(`LLM functions (${label})`, () => {
    let models = 0;
    /** A model name no other case uses (so the mock's queues and records are the case's own). */
    const fresh = (tag: string) => `${tag}-${label.split(' ')[0]}-${++models}`;

    async function engine(source: string, options: EngineOptions = {}): Promise<Engine> {
      return Engine.fromSource(HEADER + source, {
        workerThreads: 2,
        env: { MOCK_V1: `${mock.url}/v1`, MOCK: mock.url },
        ...transportOptions(),
        ...options,
      });
    }

    it('returns a class parsed from the reply, and sends the rendered prompt', async () => {
      const m = fresh('class');
      mock.enqueue({ content: '```json\n{"name": "Ada", "age": 36}\n```' }, { model: m });
      const e = await engine(`${client('C', m)}
function Extract(text: string) -> Person {
  client C
  prompt #"
    {{ _.role("system") }}
    You extract people.
    {{ _.role("user") }}
    Extract the person from: {{ text }}
  "#
}`);
      try {
        expect(await e.call('Extract', ['Ada, 36'])).toEqual({ name: 'Ada', age: 36 });
        const [r] = of(m);
        expect(r.path).toBe('/v1/chat/completions');
        expect(r.headers.authorization).toBe('Bearer sk-test');
        expect(r.body.messages).toEqual([
          { role: 'system', content: 'You extract people.' },
          { role: 'user', content: 'Extract the person from: Ada, 36' },
        ]);
      } finally {
        await e.close();
      }
    });

    it('returns strings, enums (by alias) and lists, and expression functions call LLM functions', async () => {
      const m = fresh('kinds');
      mock.enqueue([{ content: 'plain text, kept as is' }, { content: 'down' }, { content: '[1, 2, 3]' }], { model: m });
      const e = await engine(`${client('C', m)}
function Say(x: string) -> string { client C prompt #"Say {{ x }}"# }
function Feel(x: string) -> Mood { client C prompt #"How does {{ x }} feel?"# }
function Count(n: int) -> int[] { client C prompt #"Count to {{ n }}"# }
function all() -> string {
  let s = Say("hi");
  let f = Feel("Bob");
  let c = Count(3);
  let n = if (c.length() == 3 && c[2] == 3) { "3" } else { "?" };
  s + " / " + (if (f == Mood.Sad) { "sad" } else { "happy" }) + " / " + n
}`);
      try {
        expect(await e.call('all', [])).toBe('plain text, kept as is / sad / 3');
        expect(of(m).map((r) => r.body.messages[0].content)).toEqual(['Say hi', 'How does Bob feel?', 'Count to 3']);
      } finally {
        await e.close();
      }
    });

    it('talks to anthropic with its headers and the system prompt at the top level', async () => {
      const m = fresh('claude');
      mock.enqueue({ content: '{"name": "Lin", "age": 7}' }, { model: m });
      const e = await engine(`client<llm> Claude {
  provider anthropic
  options { base_url env.MOCK model "${m}" api_key "sk-ant" max_tokens 100 }
}
function Extract(text: string) -> Person {
  client Claude
  prompt #"
    {{ _.role("system") }}
    Be exact.
    {{ _.role("user") }}
    {{ text }}
  "#
}`);
      try {
        expect(await e.call('Extract', ['Lin is 7'])).toEqual({ name: 'Lin', age: 7 });
        const [r] = of(m);
        expect(r.path).toBe('/v1/messages');
        expect(r.headers['x-api-key']).toBe('sk-ant');
        expect(r.headers['anthropic-version']).toBe('2023-06-01');
        expect(r.body.system).toEqual([{ type: 'text', text: 'Be exact.' }]);
        expect(r.body.max_tokens).toBe(100);
        expect(r.body.messages.map((x: any) => x.role)).toEqual(['user']);
      } finally {
        await e.close();
      }
    });

    it('retries with the policy, then succeeds', async () => {
      const m = fresh('retry');
      mock.enqueue([{ status: 500 }, { status: 503 }, { content: 'third time' }], { model: m });
      const e = await engine(`${client('C', m, 'retry_policy Quick')}
function F() -> string { client C prompt #"go"# }`);
      try {
        expect(await e.call('F', [])).toBe('third time');
        const rs = of(m);
        expect(rs).toHaveLength(3);
        // constant_delay 20 ms between attempts (a generous floor: timers may run late, never early)
        expect(rs[1].arrivedAt - rs[0].arrivedAt).toBeGreaterThanOrEqual(15);
        expect(rs[2].arrivedAt - rs[1].arrivedAt).toBeGreaterThanOrEqual(15);
      } finally {
        await e.close();
      }
    });

    it('falls back in order, and LlmError carries every attempt', async () => {
      const a = fresh('fa');
      const b = fresh('fb');
      mock.enqueue({ status: 500, content: 'a is down' }, { model: a });
      mock.enqueue({ content: 'from b' }, { model: b });
      const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> Both { provider fallback options { strategy [A, B] } }
function F() -> string { client Both prompt #"go"# }`);
      try {
        expect(await e.call('F', [])).toBe('from b');
        mock.enqueue({ status: 500, content: 'a is down' }, { model: a });
        mock.enqueue({ status: 429, content: 'slow down' }, { model: b });
        const { error } = await settle(e.call('F', []));
        expect(error).toBeInstanceOf(LlmError);
        expect(error.code).toBe('ERR_BRAKE_LLM_ERROR');
        expect(error.attempts.map((x: any) => [x.client, x.provider, x.status])).toEqual([
          ['A', 'openai-generic', 500],
          ['B', 'openai-generic', 429],
        ]);
        expect(error.attempts[0].error).toContain('a is down');
        expect(error.attempts[1].body).toContain('slow down');
        expect(error.attempts[0].durationMs).toBeGreaterThan(0);
      } finally {
        await e.close();
      }
    });

    it('rotates round-robin per call, starting at `start`', async () => {
      const a = fresh('ra');
      const b = fresh('rb');
      const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> RR { provider round-robin options { strategy [A, B] start 1 } }
function F() -> string { client RR prompt #"go"# }`);
      try {
        const models: string[] = [];
        for (let i = 0; i < 4; i++) {
          await e.call('F', []);
          models.push(mock.requests[mock.requests.length - 1].body.model);
        }
        expect(models).toEqual([b, a, b, a]);
      } finally {
        await e.close();
      }
    });

    it('spreads calls started together over round-robin children', async () => {
      const a = fresh('ca');
      const b = fresh('cb');
      const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> RR { provider round-robin options { strategy [A, B] } }
function F() -> string { client RR prompt #"go"# }`);
      try {
        await Promise.all(Array.from({ length: 8 }, () => e.call('F', [])));
        expect([of(a).length, of(b).length]).toEqual([4, 4]);
      } finally {
        await e.close();
      }
    });

    it("a retry-after delays only the same client's next attempt, not a fallback", async () => {
      const a = fresh('raa');
      const b = fresh('rab');
      mock.enqueue({ status: 429, retryAfter: 2 }, { model: a });
      const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> Both { provider fallback options { strategy [A, B] } }
function F() -> string { client Both prompt #"go"# }`);
      try {
        await e.call('F', []);
        expect(of(b)[0].arrivedAt - of(a)[0].arrivedAt).toBeLessThan(1000);
      } finally {
        await e.close();
      }
    });

    it('fails an attempt whose reply does not fit the return type, and falls back', async () => {
      const a = fresh('pa');
      const b = fresh('pb');
      mock.enqueue({ content: 'I am not JSON' }, { model: a });
      mock.enqueue({ content: '{"name": "Bo", "age": "old"}' }, { model: b });
      const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> Both { provider fallback options { strategy [A, B] } }
function F() -> Person { client Both prompt #"go"# }`);
      try {
        const { error } = await settle(e.call('F', []));
        expect(error).toBeInstanceOf(LlmError);
        expect(error.attempts[0].error).toContain('not JSON');
        expect(error.attempts[1].error).toContain('$.age: expected int');
      } finally {
        await e.close();
      }
    });

    it("honours a 429's retry-after when it is longer than the policy's delay", async () => {
      const m = fresh('ra429');
      mock.enqueue([{ status: 429, retryAfter: 1 }, { content: 'ok' }], { model: m });
      const e = await engine(`${client('C', m, 'retry_policy Quick')}
function F() -> string { client C prompt #"go"# }`);
      try {
        expect(await e.call('F', [])).toBe('ok');
        const rs = of(m);
        expect(rs[1].arrivedAt - rs[0].arrivedAt).toBeGreaterThanOrEqual(950);
      } finally {
        await e.close();
      }
    });

    it('a missing env variable of a client is a typed error naming it, and nothing is sent', async () => {
      const before = mock.requests.length;
      const e = await engine(`
function F() -> string { client "openai/gpt-4o-mini" prompt #"go"# }`);
      try {
        const { error } = await settle(e.call('F', []));
        expect(error).toBeInstanceOf(ScriptError);
        expect(error.kind).toBe('missing_env');
        expect(error.message).toContain('OPENAI_API_KEY');
        expect(mock.requests.length).toBe(before);
      } finally {
        await e.close();
      }
    });

    describe('cancellation', () => {
      it('a pre-cancelled call sends nothing', async () => {
        const m = fresh('pre');
        const e = await engine(`${client('C', m)}
function F() -> string { client C prompt #"go"# }`);
        try {
          const { error } = await settle(e.call('F', [], { signal: AbortSignal.abort() }));
          expect(error).toBeInstanceOf(CancelledError);
          await sleep(50);
          expect(of(m)).toHaveLength(0);
        } finally {
          await e.close();
        }
      });

      it('an abort in flight closes the socket and settles as CancelledError, never LlmError', async () => {
        const m = fresh('inflight');
        mock.enqueue({ hang: true }, { model: m });
        const e = await engine(`${client('C', m, 'retry_policy Quick')}
function F() -> string { client C prompt #"go"# }`);
        try {
          const ac = new AbortController();
          const p = settle(e.call('F', [], { signal: ac.signal }));
          while (of(m).length < 1) await sleep(1);
          const t0 = performance.now();
          ac.abort();
          const { error } = await p;
          expect(error).toBeInstanceOf(CancelledError);
          expect(error).not.toBeInstanceOf(LlmError);
          const closed = await mock.waitForClose(of(m)[0], 2000);
          expect(closed).toBeDefined();
          expect(closed! - t0).toBeLessThan(500);
          await sleep(80); // longer than the policy's delay: no retry may follow
          expect(of(m)).toHaveLength(1);
        } finally {
          await e.close();
        }
      });

      it('an abort during a backoff settles at once, and no attempt follows', async () => {
        const m = fresh('backoff');
        mock.enqueue([{ status: 500 }, { content: 'never asked' }], { model: m });
        const e = await engine(`${client('C', m, 'retry_policy Slow')}
function F() -> string { client C prompt #"go"# }`);
        try {
          const ac = new AbortController();
          const p = settle(e.call('F', [], { signal: ac.signal }));
          while (of(m).length < 1) await sleep(1);
          await sleep(50); // the 500 was answered; the 5 s backoff has begun
          const t0 = performance.now();
          ac.abort();
          const { error } = await p;
          expect(performance.now() - t0).toBeLessThan(200);
          expect(error).toBeInstanceOf(CancelledError);
          await sleep(100);
          expect(of(m)).toHaveLength(1);
          mock.clearQueues();
        } finally {
          await e.close();
        }
      });

      it("the call's deadline during retries is a TimeoutError, not an LlmError", async () => {
        const m = fresh('deadline');
        mock.enqueue({ status: 500 }, { model: m });
        const e = await engine(`${client('C', m, 'retry_policy Slow')}
function F() -> string { client C prompt #"go"# }`);
        try {
          const { error } = await settle(e.call('F', [], { timeoutMs: 300 }));
          expect(error).toBeInstanceOf(TimeoutError);
          expect(of(m)).toHaveLength(1);
          mock.clearQueues();
        } finally {
          await e.close();
        }
      });

      it('a round-robin counter does not advance for a cancelled attempt', async () => {
        const a = fresh('rca');
        const b = fresh('rcb');
        mock.enqueue({ hang: true }, { model: a });
        const e = await engine(`${client('A', a)}${client('B', b)}
client<llm> RR { provider round-robin options { strategy [A, B] } }
function F() -> string { client RR prompt #"go"# }`);
        try {
          const ac = new AbortController();
          const p = settle(e.call('F', [], { signal: ac.signal }));
          while (of(a).length < 1) await sleep(1);
          ac.abort();
          expect((await p).error).toBeInstanceOf(CancelledError);
          // The cancelled call did not move the counter: the next call asks A again.
          await e.call('F', []);
          expect(mock.requests[mock.requests.length - 1].body.model).toBe(a);
          await e.call('F', []);
          expect(mock.requests[mock.requests.length - 1].body.model).toBe(b);
        } finally {
          await e.close();
        }
      });

      it('close() cancels calls in every phase; the engine keeps nothing', async () => {
        const m = fresh('close');
        mock.enqueue([{ hang: true }, { status: 500 }], { model: m });
        const e = await engine(`${client('C', m, 'retry_policy Slow')}
function F() -> string { client C prompt #"go"# }`);
        const a = settle(e.call('F', []));
        const b = settle(e.call('F', []));
        while (of(m).length < 2) await sleep(1);
        await sleep(30);
        await e.close();
        expect((await a).error).toBeInstanceOf(CancelledError);
        expect((await b).error).toBeInstanceOf(CancelledError);
        mock.clearQueues();
      });
    });
  });
}

describe('LLM declarations that do not compile', () => {
  async function diagnostics(source: string): Promise<string[]> {
    const { error } = await settle(Engine.fromSource(HEADER + source));
    expect(error).toBeInstanceOf(CompileError);
    return error.diagnostics.map((d: any) => `${d.line}:${d.column} ${d.message}`);
  }

  it('an unknown client, at its position', async () => {
    const d = await diagnostics(`
function F() -> string { client Nope prompt #"go"# }`);
    expect(d.some((x) => /^\d+:33 unknown client 'Nope'/.test(x))).toBe(true);
  });

  it('a shorthand with a provider brake does not run', async () => {
    const d = await diagnostics(`
function F() -> string { client "bedrock/claude" prompt #"go"# }`);
    expect(d.join('\n')).toContain("'bedrock/claude' is not a client");
  });

  it('an LLM body in a method', async () => {
    const d = await diagnostics(`
class C {
  x int
  function m(self) -> string { client "openai/gpt-4o" prompt #"hi"# }
}`);
    expect(d.join('\n')).toContain('a method cannot be an LLM function');
  });

  it('parameters named prompt and client are plain variables', async () => {
    const e = await Engine.fromSource(`function f(prompt: string, client: string) -> string { prompt }
function g(client: string) -> string { client + "!" }`);
    try {
      expect(await e.call('f', ['p', 'c'])).toBe('p');
      expect(await e.call('g', ['c'])).toBe('c!');
    } finally {
      await e.close();
    }
  });

  it('a body without a prompt or a client', async () => {
    expect((await diagnostics(`function F() -> string { client "openai/gpt-4o" }`)).join('\n')).toContain('needs a prompt');
    expect((await diagnostics(`function F() -> string { prompt #"x"# }`)).join('\n')).toContain('needs a client');
  });
});

describe('renderPrompt and tags', () => {
  const SOURCE = `
class Doc {
  title string @alias("name")
  body string
}
client<llm> Claude {
  provider anthropic
  options { model "m" api_key env.ANTHROPIC_KEY allowed_roles ["user", "assistant", "system"] remap_roles { "assistant" "model" } }
}
client<llm> Gpt { provider openai options { model "m" } }
function Summarise(doc: Doc, img: image?) -> Doc {
  client Claude
  prompt #"
    {{ _.role("system") }}
    You summarise for {{ ctx.tags.team }} ({{ ctx.client.provider }}).
    {{ _.role("user") }}
    {{ doc }}
    {% if img %}{{ img }}{% endif %}
    {{ _.role("assistant") }}
    ok
    {{ ctx.output_format }}
  "#
}
function plain(x: int) -> int { x }
`;

  it('renders what the client would be sent, roles remapped, media as parts, without a key', async () => {
    const e = await Engine.fromSource(SOURCE);
    try {
      const p = e.renderPrompt('Summarise', [{ title: 'T', body: 'B' }, { url: 'https://x/y.png' }], { tags: { team: 'ops' } });
      expect(p.chat).toBe(true);
      expect(p.client).toBe('Claude');
      expect(p.messages.map((m) => m.role)).toEqual(['system', 'user', 'model']);
      expect(p.messages[0].parts).toEqual([{ text: 'You summarise for ops (anthropic).' }]);
      expect(p.messages[1].parts).toEqual([
        { text: '{\n    "name": "T",\n    "body": "B",\n}' },
        { media: { kind: 'image', url: 'https://x/y.png' } },
      ]);
      expect((p.messages[2].parts[0] as { text: string }).text).toContain('Answer in JSON using this schema:\n{\n  name: string,\n  body: string,\n}');
      // Another client's context, by name.
      expect(e.renderPrompt('Summarise', { doc: { title: 'T', body: 'B' }, img: null }, { client: 'Gpt' }).client).toBe('Gpt');
    } finally {
      await e.close();
    }
  });

  it('refuses what is not an LLM function, bad arguments and unknown clients, with typed errors', async () => {
    const e = await Engine.fromSource(SOURCE);
    try {
      expect(() => e.renderPrompt('nope', [])).toThrow(/not defined/);
      expect(() => e.renderPrompt('plain', [1])).toThrow(/not an LLM function/);
      expect(() => e.renderPrompt('Summarise', [1, null])).toThrow(/argument 'doc'/);
      expect(() => e.renderPrompt('Summarise', [{ title: 'T', body: 'B' }, null], { client: 'Other' })).toThrow(/no client 'Other'/);
      expect(() => e.renderPrompt('Summarise', [{ title: 'T', body: 'B' }, null], { tags: { a: 1 as never } })).toThrow(TypeError);
    } finally {
      await e.close();
    }
    expect(() => e.renderPrompt('Summarise', [{ title: 'T', body: 'B' }, null])).toThrow(EngineClosedError);
  });

  it('an output format that would expand exponentially is refused, not built', async () => {
    const classes = Array.from({ length: 24 }, (_, i) => `class C${i} { a C${i + 1} b C${i + 1} }`).join('\n');
    const e = await Engine.fromSource(`${classes}
class C24 { x int }
client<llm> C { provider openai options { model "m" } }
function Big() -> C0 { client C prompt #"{{ ctx.output_format }}"# }`);
    try {
      expect(() => e.renderPrompt('Big', [])).toThrow(/expands to more than 10000 class bodies/);
    } finally {
      await e.close();
    }
  });

  it('a prompt of one image is a message with that image', async () => {
    const e = await Engine.fromSource(`client<llm> C { provider openai options { model "m" } }
function Look(v: image) -> string { client C prompt #"{{ v }}"# }`);
    try {
      expect(e.renderPrompt('Look', [{ url: 'https://x/a.png' }]).messages).toEqual([
        { role: 'system', allow_duplicate_role: false, parts: [{ media: { kind: 'image', url: 'https://x/a.png' } }] },
      ]);
    } finally {
      await e.close();
    }
  });

  it('a template that loops for long is stopped after timeoutMs (it renders on the calling thread)', async () => {
    const e = await Engine.fromSource(`client<llm> C { provider openai options { model "m" } }
function Long(n: int) -> string { client C prompt #"{% for i in range(n) %}{% endfor %}done"# }`);
    try {
      expect(e.renderPrompt('Long', [3]).messages[0].parts).toEqual([{ text: 'done' }]);
      const t0 = performance.now();
      expect(() => e.renderPrompt('Long', [1e12], { timeoutMs: 50 })).toThrow(TimeoutError);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await e.close();
    }
  });

  it("a call's tags reach its prompt as ctx.tags", async () => {
    const m = 'tags-model';
    const e = await Engine.fromSource(
      `client<llm> C { provider openai-generic options { base_url env.MOCK_V1 model "${m}" } }
function F() -> string { client C prompt #"team={{ ctx.tags.team }}"# }`,
      { env: { MOCK_V1: `${mock.url}/v1` } },
    );
    try {
      await e.call('F', [], { tags: { team: 'infra' } });
      expect(of(m)[0].body.messages[0].content).toBe('team=infra');
      await expect(e.call('F', [], { tags: { team: 2 as never } })).rejects.toThrow(TypeError);
    } finally {
      await e.close();
    }
  });
});
