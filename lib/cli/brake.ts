#!/usr/bin/env node
/**
 * The `brake` command (package.json `bin`):
 *
 *   brake run FILE [FUNCTION] [--arg NAME=VALUE]... [--args-json JSON] [--timeout MS] [--pretty]
 *   brake check FILE... [--json]
 *   brake functions FILE [--json]
 *
 * Decisions, for users and scripts:
 * - `run` prints the result as JSON on stdout (one line; `--pretty` indents).
 *   JSON has no place for some values: an int past 2^53 prints as its exact
 *   digits, NaN and +-Infinity print bare (`NaN`, `Infinity`), -0 prints 0.
 *   Argument values are JSON when they parse as JSON, otherwise strings
 *   (`--arg name=Ada` and `--arg 'name="Ada"'` are the same).
 * - The program sees the shell's environment (env.NAME in clients), as BAML's
 *   own CLI does. Host functions do not exist here: a program that calls one
 *   does not compile.
 * - Ctrl-C cancels the call (it stops within a millisecond) and exits 130; a
 *   second Ctrl-C exits at once.
 * - Exit codes: 0 done; 1 the call failed or the files have errors; 2 bad
 *   usage or an unreadable file; 124 `--timeout` passed; 130 cancelled.
 * - Errors print as one line on stderr (`brake: ScriptError: ...`), never a
 *   stack; compile errors print each diagnostic with its source line and a
 *   caret under the column.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { CancelledError, CompileError, TimeoutError } from '../errors';
import type { Diagnostic } from '../errors';
import { Engine, type Program } from '../engine';
import { generateTypeScript } from '../codegen';
import { readProject, type Project } from '../project';
import { LIMITS } from '../native';
import type { BrakeStream } from '../stream';

const USAGE = `usage: brake <command> [options]

commands:
  run FILE [FUNCTION]   call a function (default: main) and print its result as JSON
  check FILE...         compile files and print every diagnostic
  functions FILE        list a file's functions and their signatures
  generate INPUT...     write typed TypeScript for a project's functions (--output DIR)

FILE may be a directory: its .baml files (sorted by path) compile as one program.

brake <command> --help shows a command's options; brake --version prints the version.`;

const HELP: Record<string, string> = {
  generate: `usage: brake generate INPUT... --output DIR

Compiles the .baml files (INPUT: files, or directories whose .baml files are read, sorted by
path) as one program and writes DIR/index.ts: an interface per class, a string union per enum,
and createClient(engine) with a typed method per function (plus SOURCE and createEngine()).

options:
  -o, --output DIR       where index.ts goes (made if missing)
  -h, --help             this help`,
  run: `usage: brake run FILE [FUNCTION] [options]

Calls FUNCTION (default: main) of the .baml file FILE and prints its result as JSON.

options:
  -a, --arg NAME=VALUE   a named argument (repeatable); VALUE is JSON when it parses, else a string
      --args-json JSON   all arguments: a JSON array (positional) or object (named)
      --timeout MS       cancel the call after MS milliseconds (exit 124)
      --stream           write the LLM replies' text to stderr as it arrives (a new line
                         for each attempt), then the result as JSON to stdout
      --pretty           indent the JSON
      --allow-shell      let the script run commands with baml.sys.shell (off by default)
  -h, --help             this help

Ctrl-C cancels the call (exit 130); a second Ctrl-C exits at once.`,
  check: `usage: brake check FILE... [options]

Compiles each .baml file and prints every diagnostic with its source line; exits 1 when any has errors.

options:
      --json             print the diagnostics as a JSON array of {file, line, column, message}
  -h, --help             this help`,
  functions: `usage: brake functions FILE [options]

Lists the functions of the .baml file FILE with their signatures, in source order.

options:
      --json             print a JSON array of {name, params, signature, llm}
  -h, --help             this help`,
};

/** A failure that ends the command with `code` after printing `message` (as `brake: message`, or as it is). */
class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly verbatim = false,
  ) {
    super(message);
  }
}

const usage = (message: string): Exit => new Exit(2, `${message} (brake --help shows the usage)`);

function version(): string {
  const pkg = JSON.parse(readFileSync(`${__dirname}/../../package.json`, 'utf8')) as { version: string };
  return pkg.version;
}

/** Every diagnostic with its source line and a caret under its column. */
function showDiagnostics(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): string {
  const out: string[] = [];
  for (const d of diagnostics) {
    out.push(`${d.file}:${d.line}:${d.column}: error: ${d.message}`);
    const line = sources.get(d.file)?.split(/\r?\n/)[d.line - 1];
    if (line === undefined) continue;
    const gutter = String(d.line);
    out.push(` ${gutter} | ${line}`);
    // The caret under the column (the compiler counts bytes; the line is
    // shown in characters), tabs kept so it lines up.
    const before = Array.from(Buffer.from(line).subarray(0, Math.max(0, d.column - 1)).toString());
    out.push(` ${' '.repeat(gutter.length)} | ${before.map((c) => (c === '\t' ? '\t' : ' ')).join('')}^`);
  }
  return out.join('\n');
}

async function compile(file: string, source: string, withEnv: boolean, allowShell = false): Promise<Engine> {
  return Engine.fromSource(source, { fileName: file, workerThreads: 1, allowShell, ...(withEnv ? { env: process.env } : {}) });
}

/** Reads FILE, or a directory's .baml files as one project (lib/project.ts). */
async function readInput(inputs: readonly string[]): Promise<Project> {
  try {
    return await readProject(inputs);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new Exit(2, e.code ? `cannot read ${e.path ?? inputs.join(', ')}: ${e.code}` : e.message);
  }
}

/** JSON text of a result, with what JSON cannot hold written as described at the top. */
function toJson(value: unknown, pretty: boolean): string {
  // Each such value is written as a string no result can hold (a random
  // nonce), then replaced by its bare text.
  const nonce = randomUUID();
  const marks = new Map<string, string>();
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => {
      let bare: string | undefined;
      if (typeof v === 'bigint') bare = v.toString();
      else if (typeof v === 'number' && !Number.isFinite(v)) bare = String(v);
      if (bare === undefined) return v;
      const mark = `${nonce}:${marks.size}`;
      marks.set(`"${mark}"`, bare);
      return mark;
    },
    pretty ? 2 : undefined,
  );
  if (text === undefined) return 'null';
  return marks.size ? text.replace(new RegExp(`"${nonce}:\\d+"`, 'g'), (m) => marks.get(m) ?? m) : text;
}

/** `--arg` values: JSON when they parse (an integer past 2^53 as a bigint, exactly), else the text. */
function argValue(text: string): unknown {
  if (/^-?\d+$/.test(text.trim()) && !Number.isSafeInteger(Number(text))) return BigInt(text.trim());
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      arg: { type: 'string', short: 'a', multiple: true },
      'args-json': { type: 'string' },
      timeout: { type: 'string' },
      stream: { type: 'boolean' },
      pretty: { type: 'boolean' },
      'allow-shell': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP.run);
    return 0;
  }
  const [file, fnName, ...rest] = positionals;
  if (!file) throw usage('run: which file? (brake run FILE [FUNCTION])');
  if (rest.length) throw usage(`run: unexpected ${JSON.stringify(rest[0])} (arguments go in --arg or --args-json)`);
  let callArgs: unknown[] | Record<string, unknown> = [];
  if (values['args-json'] !== undefined && values.arg?.length) throw usage('run: give --arg or --args-json, not both');
  if (values['args-json'] !== undefined) {
    try {
      callArgs = JSON.parse(values['args-json']) as unknown[] | Record<string, unknown>;
    } catch (error) {
      throw usage(`run: --args-json is not JSON: ${(error as Error).message}`);
    }
    if (callArgs === null || typeof callArgs !== 'object') throw usage('run: --args-json must be a JSON array or object');
  } else if (values.arg?.length) {
    const named: Record<string, unknown> = Object.create(null) as Record<string, unknown>; // (a "__proto__" argument is a name like any other)
    for (const a of values.arg) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw usage(`run: --arg ${JSON.stringify(a)} is not NAME=VALUE`);
      named[a.slice(0, eq)] = argValue(a.slice(eq + 1));
    }
    callArgs = named;
  }
  let timeoutMs = 0;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!/^\d+$/.test(values.timeout) || !(timeoutMs > 0) || timeoutMs > LIMITS.maxTimeoutMs)
      throw usage(`run: --timeout must be a number of milliseconds from 1 to ${LIMITS.maxTimeoutMs}, not ${JSON.stringify(values.timeout)}`);
  }
  const project = await readInput([file]);
  const fn = fnName ?? 'main';
  // Ctrl-C from here on: the first cancels (the compile, or the call), the
  // second exits at once.
  const abort = new AbortController();
  let interrupts = 0;
  const onInterrupt = (): void => {
    if (++interrupts > 1) process.exit(130);
    abort.abort(new Error('interrupted (Ctrl-C)'));
  };
  process.on('SIGINT', onInterrupt);
  try {
    const engine = await compileOrExit(project, true, values['allow-shell'] === true);
    try {
      if (abort.signal.aborted) throw new CancelledError('interrupted while compiling'); // Ctrl-C during the compile
      if (!engine.functions.has(fn)) {
        const names = [...engine.functions.keys()];
        throw new Exit(2, `${file} has no function ${fn}${fnName ? '' : ' (name one: brake run FILE FUNCTION)'}; it has: ${names.join(', ') || 'none'}`);
      }
      const options = { signal: abort.signal, timeoutMs };
      const value = values.stream ? await streamText(engine.stream(fn, callArgs as unknown[], options)) : await engine.call(fn, callArgs as unknown[], options);
      process.stdout.write(`${toJson(value, values.pretty === true)}\n`);
      return 0;
    } finally {
      await engine.close();
    }
  } catch (error) {
    if (error instanceof TimeoutError) throw new Exit(124, `${fn} timed out after ${timeoutMs} ms`);
    if (error instanceof CancelledError) throw new Exit(130, `${fn} cancelled`);
    throw error;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** `brake run --stream`: the replies' text to stderr as it arrives (each attempt on a line of its own), then the result. */
async function streamText(stream: BrakeStream): Promise<unknown> {
  let line = false;
  try {
    for await (const ev of stream) {
      if (ev.kind === 'attempt' && line) {
        process.stderr.write('\n');
        line = false;
      }
      if (ev.kind === 'delta' && ev.text) {
        process.stderr.write(ev.text);
        line = true;
      }
    }
  } finally {
    if (line) process.stderr.write('\n');
  }
  return stream.final;
}

/** What a failed compile of `project` ends the command with: its diagnostics, or the error itself. */
function compileFailure(project: Project, error: unknown): unknown {
  const mapped = project.mapError(error);
  return mapped instanceof CompileError ? new Exit(1, showDiagnostics(mapped.diagnostics, project.texts), true) : error;
}

/** Compiles `project` into an engine, or ends the command with its diagnostics. */
async function compileOrExit(project: Project, withEnv: boolean, allowShell = false): Promise<Engine> {
  try {
    return await compile(project.fileName, project.source, withEnv, allowShell);
  } catch (error) {
    throw compileFailure(project, error);
  }
}

async function check(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP.check);
    return 0;
  }
  if (!positionals.length) throw usage('check: which files? (brake check FILE...)');
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const ok: string[] = [];
  for (const input of positionals) {
    const project = await readInput([input]);
    for (const [file, text] of project.texts) sources.set(file, text);
    try {
      const engine = await compile(project.fileName, project.source, false);
      ok.push(`${input}: ok (${engine.functions.size} function${engine.functions.size === 1 ? '' : 's'})`);
      await engine.close();
    } catch (error) {
      const mapped = project.mapError(error);
      if (!(mapped instanceof CompileError)) throw error;
      diagnostics.push(...mapped.diagnostics);
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(diagnostics.map(({ file, line, column, message }) => ({ file, line, column, message })))}\n`);
  } else {
    if (diagnostics.length) process.stdout.write(`${showDiagnostics(diagnostics, sources)}\n`);
    for (const line of ok) process.stdout.write(`${line}\n`);
    if (diagnostics.length) process.stdout.write(`${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}\n`);
  }
  return diagnostics.length ? 1 : 0;
}

async function functions(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP.functions);
    return 0;
  }
  if (positionals.length !== 1) throw usage('functions: one file (brake functions FILE)');
  const file = positionals[0]!;
  const engine = await compileOrExit(await readInput([file]), false);
  try {
    const decls = engine.declarations;
    if (values.json) {
      process.stdout.write(`${JSON.stringify(decls)}\n`);
    } else {
      for (const d of decls) process.stdout.write(`function ${d.name}${d.signature}${d.llm ? '   // LLM function' : ''}\n`);
    }
    return 0;
  } finally {
    await engine.close();
  }
}

async function generate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP.generate);
    return 0;
  }
  if (!positionals.length) throw usage('generate: which files or directories? (brake generate INPUT... --output DIR)');
  if (!values.output) throw usage('generate: where? (--output DIR)');
  const project = await readInput(positionals);
  let program: Program;
  try {
    program = await Engine.compile(project.source, { fileName: project.fileName });
  } catch (error) {
    throw compileFailure(project, error);
  }
  const out = path.join(values.output, 'index.ts');
  const from = project.files.map((f) => path.relative(process.cwd(), f) || f);
  const declarations = program.describe();
  mkdirSync(values.output, { recursive: true });
  writeFileSync(out, generateTypeScript(declarations, project.source, from));
  process.stdout.write(`wrote ${out} (${declarations.functions.length} functions) from ${from.join(', ')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    console.log(topic && HELP[topic] ? HELP[topic] : USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version());
    return 0;
  }
  switch (command) {
    case 'run':
      return run(rest);
    case 'check':
      return check(rest);
    case 'functions':
      return functions(rest);
    case 'generate':
      return generate(rest);
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

const isParseArgsError = (error: unknown): boolean => String((error as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS');

/** One line for an error: its class and message, never a stack. */
function oneLine(error: unknown): string {
  if (error instanceof Exit) return error.message;
  const e = error as Error | undefined;
  // parseArgs' own errors (an unknown option, a missing value) are usage errors.
  const text = isParseArgsError(error) ? `${e?.message} (brake --help shows the usage)` : `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`;
  return text.replace(/\s*\n\s*/g, ' ');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(error instanceof Exit && error.verbatim ? `${error.message}\n` : `brake: ${oneLine(error)}\n`);
    process.exitCode = error instanceof Exit ? error.code : isParseArgsError(error) ? 2 : 1;
  },
);
