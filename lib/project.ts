/**
 * A BAML project of several files (a `baml_src/` directory, or files named
 * one by one) compiled as one program: the files joined in order (a
 * directory's `.baml` files sorted by path), and each diagnostic of the
 * joined text mapped back to the file and line it came from.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';

import { CompileError, type Diagnostic } from './errors';

export interface Project {
  /** Every file's text, in order, each starting on a line of its own. */
  readonly source: string;
  /** The files, in the order joined. */
  readonly files: readonly string[];
  /** Each file's text. */
  readonly texts: ReadonlyMap<string, string>;
  /** The name to compile `source` under: the file, or "<project>" for several (see mapError). */
  readonly fileName: string;
  /** The file and line of line `line` (1-based) of `source`. */
  locate(line: number): { file: string; line: number };
  /** `error` with its diagnostics naming the files they are in. */
  mapError(error: unknown): unknown;
}

async function bamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await bamlFiles(p)));
    else if (entry.name.endsWith('.baml')) out.push(p);
  }
  return out.sort();
}

/** Reads `inputs` (files and directories) as one project. */
export async function readProject(inputs: readonly string[]): Promise<Project> {
  const files: string[] = [];
  for (const input of inputs) files.push(...((await stat(input)).isDirectory() ? await bamlFiles(input) : [input]));
  if (!files.length) throw new TypeError(`no .baml files in ${inputs.join(', ')}`);
  const starts: number[] = []; // the first line of each file in the joined text
  const texts = new Map<string, string>();
  let source = '';
  let line = 1;
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    texts.set(file, text);
    starts.push(line);
    const piece = text.endsWith('\n') ? text : `${text}\n`;
    source += piece;
    line += piece.split('\n').length - 1;
  }
  const locate = (at: number): { file: string; line: number } => {
    let i = starts.length - 1;
    while (i > 0 && starts[i]! > at) i--;
    return { file: files[i]!, line: at - starts[i]! + 1 };
  };
  const mapError = (error: unknown): unknown => {
    if (!(error instanceof CompileError) || files.length === 1) return error;
    const diagnostics: Diagnostic[] = error.diagnostics.map((d) => ({ ...d, ...locate(d.line) }));
    return new CompileError(diagnostics);
  };
  return { source, files, texts, fileName: files.length === 1 ? files[0]! : '<project>', locate, mapError };
}
