// The published package: `npm pack` holds what an install needs to build
// and run (sources, the compiled TypeScript, the command) and nothing of the
// repository's own (build trees, tests, benchmarks); everything package.json
// points at is in it; and the install's toolchain check says in one line
// what is missing. (.ci/run installs the packed tarball into a scratch
// project and uses it from CommonJS, ESM and the command: test/package/.)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

interface PackFile {
  path: string;
}

function packed(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ files: PackFile[] }>)[0]!.files.map((f) => f.path);
}

/** Every file path a package.json field names (exports, bin, main, types). */
function named(pkg: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(pkg.exports);
  walk(pkg.bin);
  walk(pkg.main);
  walk(pkg.types);
  return out.filter((p) => p !== 'package.json');
}

describe('npm pack', () => {
  it('holds what an install builds and runs from, and nothing of the repository\'s own', () => {
    const files = packed();
    for (const prefix of ['build/', 'build-gyp/', 'test/', 'bench/', 'node_modules/', '.ci/', 'examples/']) {
      expect(files.filter((f) => f.startsWith(prefix)), prefix).toEqual([]);
    }
    for (const needed of [
      'CMakeLists.txt',
      'binding.gyp',
      'native/sources.json',
      'native/include/brake.h',
      'native/lib/libbrake.map',
      'native/tools/check-toolchain.js',
      'dist/index.js',
      'dist/index.mjs',
      'dist/cli/brake.js',
      'README.md',
    ]) {
      expect(files, needed).toContain(needed);
    }
    const pkg = JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: root, encoding: 'utf8' }));
    for (const file of named(pkg)) expect(files, `package.json names ${file}`).toContain(file);
    // Every native source the build reads.
    const sources = JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./native/sources.json"))'], { cwd: root, encoding: 'utf8' }));
    for (const list of ['core', 'addon', 'curl']) for (const src of sources[list] as string[]) expect(files, src).toContain(src);
  });
});

describe('install toolchain check', () => {
  const script = path.join(root, 'native', 'tools', 'check-toolchain.js');

  it('passes where cmake and a compiler are found', () => {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('says in one line what is missing, and fails the install', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'brake-path-'));
    try {
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { PATH: empty } });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^brake: cannot build its native addon: cmake \(3\.19 or newer\) and a C\+\+17 compiler \(c\+\+\) not found on PATH\. Install them [^\n]*\n$/);
      const withCmake = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { PATH: process.env.PATH, CXX: 'no-such-compiler' } });
      expect(withCmake.status).toBe(1);
      expect(withCmake.stderr).toMatch(/^brake: cannot build its native addon: a C\+\+17 compiler \(no-such-compiler\) not found on PATH\./);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
