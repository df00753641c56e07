// The prompt part of `npm run conformance`: BAML's own prompt renderings
// (../shared/conformance/prompt-render.jsonl, records of kind render_prompt,
// function_prompt and jinja_template) through brake's real pipeline. Each
// record becomes a program: its declarations, a client with the record's
// provider and role options, and an LLM function whose prompt is the
// record's template and whose parameters are typed from its arguments; the
// rendering is engine.renderPrompt's (what the client would be sent), with
// the record's tags as the call's tags (ctx.tags).
//
// Expectations are compared as the records state them: the exact text of a
// completion, the messages of a chat (BAML's older engine's form, with
// parts and allow_duplicate_role, or its newer one's, with content), parts
// of the result (expected_checks; a serialised value is compared by parsing
// brake's text back with the reference JSON, YAML or TOON parser), or an
// error containing the given words.
import { decode as decodeToon } from '@toon-format/toon';
import { parse as parseYaml } from 'yaml';

import { CompileError, Engine } from '../dist/index.mjs';

const KINDS = new Set(['render_prompt', 'function_prompt', 'jinja_template']);

/** The records this runner measures. */
export function promptRecords(lines) {
  return lines.filter((r) => KINDS.has(r.kind));
}

// ---------------------------------------------------------------- argument types

function union(types) {
  const set = [...new Set(types)];
  return set.length === 1 ? set[0] : set.join(' | ');
}

/** A BAML type for a record's argument value. */
function typeOf(v) {
  if (v === null) return 'string?';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) {
    const inner = v.filter((x) => x !== null).map(typeOf);
    const elem = inner.length ? union(inner) : 'string';
    const nullable = v.some((x) => x === null);
    return nullable ? `(${elem})?[]` : elem.includes('|') ? `(${elem})[]` : `${elem}[]`;
  }
  if (v.$class) return v.$class;
  if (v.$enum) return v.$enum;
  if (v.$media) return v.$media;
  const values = Object.values(v);
  return `map<string, ${values.length ? union(values.map(typeOf)) : 'string'}>`;
}

/** A record's argument value as a host value for the parameter. */
function toHost(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toHost);
  if (v.$class) return Object.fromEntries(Object.entries(v.fields).map(([k, x]) => [k, toHost(x)]));
  if (v.$enum) return v.value;
  if (v.$media) {
    const m = {};
    if (v.url) m.url = v.url;
    if (v.base64) m.base64 = v.base64;
    if (v.mime_type) m.media_type = v.mime_type;
    return m;
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toHost(x)]));
}

/** #"..."# with enough hashes for the text. */
function raw(text) {
  let hashes = '#';
  while (text.includes(`"${hashes}`)) hashes += '#';
  return `${hashes}"${text}"${hashes}`;
}

function clientBlock(client) {
  const c = client ?? { name: 'Default', provider: 'openai' };
  const options = ['model "m"', 'api_key "k"'];
  if (c.default_role) options.push(`default_role "${c.default_role}"`);
  if (c.allowed_roles?.length) options.push(`allowed_roles [${c.allowed_roles.map((r) => JSON.stringify(r)).join(', ')}]`);
  const remap = Object.entries(c.remap_role ?? {});
  if (remap.length) options.push(`remap_roles { ${remap.map(([k, v]) => `${JSON.stringify(k)} ${JSON.stringify(v)}`).join(' ')} }`);
  return [`client<llm> ${c.name} {\n  provider ${c.provider}\n  options {\n    ${options.join('\n    ')}\n  }\n}`, c.name];
}

/** The program and the call for a record. */
function programFor(r) {
  if (r.kind === 'function_prompt') {
    // The record's own program, without its get_prompt() (a builtin brake
    // answers through renderPrompt instead); the function is the one it renders.
    const source = r.baml.replace(/function get_prompt\(\)[\s\S]*$/, '');
    const fn = /baml\.llm\.render_prompt\("([^"]+)"/.exec(r.baml)?.[1];
    return { source, fn, args: Object.values(r.args).map(toHost) };
  }
  const [client, name] = clientBlock(r.client);
  const names = Object.keys(r.args ?? {});
  const params = names.map((n) => `${n}: ${typeOf(r.args[n])}`).join(', ');
  const target = r.output_format_target ?? 'string';
  const source = `${r.baml ?? ''}\n${client}\nfunction RenderMe(${params}) -> ${target} {\n  client ${name}\n  prompt ${raw(r.template)}\n}\n`;
  return { source, fn: 'RenderMe', args: names.map((n) => toHost(r.args[n])) };
}

// ---------------------------------------------------------------- comparison

/** brake's text of a completion (or of a chat's only message). */
function completionText(p) {
  return p.messages.map((m) => m.parts.map((x) => x.text ?? '').join('')).join('');
}

function sameMedia(ours, theirs) {
  return (ours.url ?? null) === (theirs.url ?? null) && (ours.media_type ?? null) === (theirs.mime_type ?? null);
}

function sameLegacyMessages(p, expected) {
  if (p.messages.length !== expected.length) return false;
  return expected.every((e, i) => {
    const m = p.messages[i];
    if (m.role !== e.role || m.allow_duplicate_role !== e.allow_duplicate_role || m.parts.length !== e.parts.length) return false;
    return e.parts.every((part, j) => (part.text !== undefined ? m.parts[j].text === part.text : m.parts[j].media && sameMedia(m.parts[j].media, part.media)));
  });
}

function sameNewMessages(p, expected) {
  return (
    p.messages.length === expected.length &&
    expected.every((e, i) => p.messages[i].role === e.role && completionText({ messages: [p.messages[i]] }) === e.content)
  );
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function parseSerialised(format, text) {
  if (format === 'json') return JSON.parse(text);
  if (format === 'yaml') return parseYaml(text);
  return decodeToon(text);
}

function lookup(p, path) {
  if (path === 'completion') return completionText(p);
  if (path === 'len(messages)') return p.messages.length;
  const m = /^messages\[(\d+)\]\.(\w+)$/.exec(path);
  if (m) return p.messages[Number(m[1])]?.[m[2]];
  return undefined;
}

function check(p, c) {
  const lhs = lookup(p, c.lhs);
  if (c.rhs_serialized) {
    try {
      return deepEqual(parseSerialised(c.rhs_serialized.format, lhs), c.rhs_serialized.value);
    } catch {
      return false;
    }
  }
  if (c.op === '==') return deepEqual(lhs, c.rhs);
  if (c.op === 'contains') return typeof lhs === 'string' && lhs.includes(c.rhs);
  if (c.op === 'not_contains') return typeof lhs === 'string' && !lhs.includes(c.rhs);
  return false;
}

function judge(r, p) {
  if (r.expected_error_contains) return ['fail', `rendered, but an error containing ${JSON.stringify(r.expected_error_contains)} was expected`];
  if (r.expected_checks) {
    const failed = r.expected_checks.filter((c) => !check(p, c));
    return failed.length ? ['fail', `checks failed: ${failed.map((c) => c.lhs).join(', ')}; got ${JSON.stringify(p.messages)}`] : ['pass'];
  }
  if (typeof r.expected === 'string') {
    const text = completionText(p);
    return text === r.expected ? ['pass'] : ['fail', `got ${JSON.stringify(text)}`];
  }
  const ok = r.engine === 'new' ? sameNewMessages(p, r.expected) : sameLegacyMessages(p, r.expected);
  return ok ? ['pass'] : ['fail', `got ${JSON.stringify(p.messages)}`];
}

/** Runs one record: ['pass'] or ['fail', why]. */
export async function runPromptRecord(r) {
  const { source, fn, args } = programFor(r);
  let engine;
  try {
    engine = await Engine.fromSource(source, { workerThreads: 1 });
  } catch (error) {
    if (error instanceof CompileError) {
      const d = error.diagnostics[0];
      const text = error.diagnostics.map((x) => x.message).join('\n');
      if (r.expected_error_contains?.every((w) => text.includes(w))) return ['pass'];
      return ['fail', `compile error: ${d?.line}:${d?.column} ${d?.message}`];
    }
    throw error;
  }
  try {
    let prompt;
    try {
      prompt = engine.renderPrompt(fn, args, r.tags ? { tags: r.tags } : undefined);
    } catch (error) {
      if (r.expected_error_contains?.every((w) => error.message.includes(w))) return ['pass'];
      return ['fail', `${error.name}: ${error.message}`];
    }
    return judge(r, prompt);
  } finally {
    await engine.close();
  }
}
