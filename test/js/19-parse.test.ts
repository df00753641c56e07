// engine.parse: a model's reply parsed into a function's return type on the
// calling thread (BAML's b.parse.Fn), for hosts that call models
// themselves. The API: values back as a call's result would carry them,
// ParseError (a ScriptError of kind 'parse_error', with raw and path) when
// the text does not fit, typed errors for bad input, a deadline, and the
// engine unaffected for everyone else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  EngineClosedError,
  Engine,
  InvalidArgumentError,
  ParseError,
  ScriptError,
  TimeoutError,
  UnknownFunctionError,
  className,
} from '../../lib/index';

const SOURCE = `
class Person {
  name string
  age int @alias("years")
}
enum Mood { Happy Sad }
function Extract(text: string) -> Person {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function People(text: string) -> Person[] {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function Feel(text: string) -> Mood {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function Pick(text: string) -> "cat" | "dog" {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function Echo(text: string) -> string {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function Count() -> int { 1 }
function Big(text: string) -> int {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
function Scores(text: string) -> map<string, int> {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
class Team {
  lead Person
  members Person[]
  mood Mood
  by_name map<string, Person>
}
function Staff(text: string) -> Team {
  client "openai/gpt-4o"
  prompt #"{{ text }}"#
}
`;

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.fromSource(SOURCE, { workerThreads: 1 });
});
afterAll(async () => {
  await engine?.close();
});

describe('engine.parse', () => {
  it('parses a reply into the return type, as a call would return it', () => {
    const person = engine.parse('Extract', '```json\n{"name": "Ada", "years": 36}\n```');
    expect(person).toEqual({ name: 'Ada', age: 36 });
    expect(className(person)).toBe('Person');
    expect(engine.parse('People', '[{"name": "Ada", "years": 36}, {"name": "Alan", "years": 41}]')).toEqual([
      { name: 'Ada', age: 36 },
      { name: 'Alan', age: 41 },
    ]);
    expect(engine.parse('Feel', 'Happy')).toBe('Happy');
    expect(engine.parse('Pick', '"dog"')).toBe('dog');
    expect(engine.parse('Count', '42')).toBe(42);
  });

  it('gives values exactly whichever way they cross (JSON or node by node)', () => {
    // Ints past 2^53 as bigint, maps with index-like keys with their
    // entries, nested instances with their class names, enums as names.
    expect(engine.parse('Big', '9007199254740993')).toBe(9007199254740993n);
    expect(engine.parse('Big', '-9007199254740991')).toBe(-9007199254740991);
    expect(engine.parse('Scores', '{"b": 1, "10": 2, "a": 3}')).toEqual({ b: 1, 10: 2, a: 3 });
    expect(engine.parse('Scores', '{"x": 9007199254740993}')).toEqual({ x: 9007199254740993n });
    const team = engine.parse(
      'Staff',
      'Here: {"lead": {"name": "Ada", "years": 36}, "members": [{"name": "Alan", "years": 41}], "mood": "sad", ' +
        '"by_name": {"grace": {"name": "Grace", "years": 85}, "quote\\"d\\n": {"name": "\\u00e9", "years": 1}}}',
    ) as Record<string, any>;
    expect(team).toEqual({
      lead: { name: 'Ada', age: 36 },
      members: [{ name: 'Alan', age: 41 }],
      mood: 'Sad',
      by_name: { grace: { name: 'Grace', age: 85 }, 'quote"d\n': { name: '\u00e9', age: 1 } },
    });
    expect(className(team)).toBe('Team');
    expect(className(team.lead)).toBe('Person');
    expect(className(team.members[0])).toBe('Person');
    expect(className(team.by_name)).toBeUndefined();
    expect(className(team.by_name.grace)).toBe('Person');
    expect(Object.keys(team)).toEqual(['lead', 'members', 'mood', 'by_name']);
  });

  it('gives a string return type the text unchanged', () => {
    const text = '  {"looks": "like json"}\n';
    expect(engine.parse('Echo', text)).toBe(text);
    for (const long of ['é'.repeat(127), 'é'.repeat(128), '😀'.repeat(64), 'x'.repeat(300)]) expect(engine.parse('Echo', long)).toBe(long);
  });

  it('throws ParseError with the text and where it did not fit', () => {
    const raw = '{"name": "Ada", "years": "old"}';
    let caught: unknown;
    try {
      engine.parse('Extract', raw);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ParseError);
    expect(caught).toBeInstanceOf(ScriptError);
    const e = caught as ParseError;
    expect(e.kind).toBe('parse_error');
    expect(e.code).toBe('ERR_BRAKE_SCRIPT_ERROR');
    expect(e.raw).toBe(raw);
    expect(e.path).toBe('$.years');
    expect(e.message).toContain("'Extract'");
    expect(() => engine.parse('Pick', '"cow"')).toThrow(ParseError);
  });

  it('gives the value so far of a reply still arriving with partial', () => {
    const prefix = '```json\n{"name": "Ad';
    expect(engine.parse('Extract', prefix, { partial: true })).toEqual({ name: 'Ad', age: null });
    expect(engine.parse('People', '[{"name": "Ada", "years": 36}, {"name": "Al', { partial: true })).toEqual([
      { name: 'Ada', age: 36 },
      { name: 'Al', age: null },
    ]);
    // The same text, complete: age is required.
    expect(() => engine.parse('Extract', prefix)).toThrow(ParseError);
  });

  it('refuses bad input with typed errors and keeps working', async () => {
    expect(() => engine.parse('Nope' as never, '1')).toThrow(UnknownFunctionError);
    expect(() => engine.parse('Count', 1 as never)).toThrow(TypeError);
    expect(() => engine.parse(1 as never, '1')).toThrow(TypeError);
    expect(() => engine.parse('Count', '1', { partial: 'yes' as never })).toThrow(TypeError);
    expect(() => engine.parse('Count', '1', { timeoutMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => engine.parse('Count', '1', { timeoutMs: 1e300 })).toThrow(InvalidArgumentError);
    expect(await engine.call('Count')).toBe(1);
  });

  it('stops at its deadline on a huge reply', () => {
    // Several megabytes of an array of objects: far more than a millisecond
    // of work, stopped at the deadline with a TimeoutError.
    const huge = `[${Array.from({ length: 200_000 }, (_, i) => `{"name": "n${i}", "years": ${i}}`).join(',')}]`;
    const t0 = performance.now();
    expect(() => engine.parse('People', huge, { timeoutMs: 1 })).toThrow(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(engine.parse('People', huge, { timeoutMs: 0 })).toHaveLength(200_000);
  });

  it('is refused once the engine is closed', async () => {
    const e = await Engine.fromSource(SOURCE, { workerThreads: 1 });
    await e.close();
    expect(() => e.parse('Count', '1')).toThrow(EngineClosedError);
  });
});
