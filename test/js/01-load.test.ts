// Build and load: the addon loads, matches lib/, and both native builds (cmake-js, node-gyp) use one source list.
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { STATUS_NAMES, addonPath } from '../../lib/index';
import { native, packageRoot } from '../../lib/native';

const root = path.resolve(__dirname, '..', '..');
const sources = JSON.parse(readFileSync(path.join(root, 'native', 'sources.json'), 'utf8')) as {
  core: string[];
  addon: string[];
};

/** Parses binding.gyp (a Python literal) and expands its `sources` command as gyp would at the package root. */
function gypSources(): string[] {
  const gyp = JSON.parse(
    execFileSync('python3', [
      '-c',
      'import ast, json, sys; print(json.dumps(ast.literal_eval(open(sys.argv[1]).read())))',
      path.join(root, 'binding.gyp'),
    ]).toString(),
  );
  const target = gyp.targets.find((t: { target_name: string }) => t.target_name === 'brake');
  const out: string[] = [];
  for (const entry of target.sources as string[]) {
    const expanded = entry.replaceAll('<(brake_root)', gyp.variables['brake_root%']);
    const command = /^<!@?\((.*)\)$/s.exec(expanded);
    if (command) out.push(...execSync(command[1], { cwd: root }).toString().trim().split(/\s+/));
    else out.push(expanded);
  }
  return out.map((f) => path.normalize(f));
}

describe('load', () => {
  it('loads the addon and reports the core version', () => {
    const addon = native();
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(addon.version).toBe(pkg.version);
    expect(addonPath()).toMatch(/brake\.node$/);
    expect(packageRoot).toBe(root);
  });

  it('has the status list of brake_status.h, in order', () => {
    const header = readFileSync(path.join(root, 'native', 'include', 'brake_status.h'), 'utf8');
    const parsed = [...header.matchAll(/X\((\w+),\s*(\d+),/g)].map((m) => [m[1], Number(m[2])] as const);
    expect(parsed.map(([, v]) => v)).toEqual(parsed.map((_, i) => i));
    expect(parsed.map(([n]) => n)).toEqual([...STATUS_NAMES]);
    expect(native().statusNames).toEqual([...STATUS_NAMES]);
  });

  it('binding.gyp builds exactly the sources of native/sources.json (core + addon) and simdjson', () => {
    const expected = [...sources.core, ...sources.addon].map((f) => path.normalize(f));
    const simdjson = path.relative(
      root,
      path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('@nozbe/simdjson/package.json')), 'src', 'simdjson.cpp'),
    );
    expect(gypSources()).toEqual([...expected, simdjson]);
    for (const f of [...expected, simdjson]) expect(existsSync(path.resolve(root, f)), f).toBe(true);
  });

  it('CMakeLists.txt reads the same two lists', () => {
    const cmake = readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
    expect(cmake).toMatch(/native\/sources\.json/);
    expect(cmake).toMatch(/brake_read_sources\(core /);
    expect(cmake).toMatch(/brake_read_sources\(addon /);
  });

  it("require('brake/native') and import('brake/native') find the shared library, header and pkg-config file", () => {
    // (By the package's own name: Node resolves a package's self-reference through its exports.)
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const n = require('brake/native');
         import('brake/native').then((m) => console.log(JSON.stringify([n.libraryPath, n.includeDir, n.pkgConfigDir, m.libraryPath === n.libraryPath])));`,
      ],
      { cwd: root },
    ).toString();
    const [library, include, pkgConfig, same] = JSON.parse(out) as [string, string, string, boolean];
    expect(library).toBe(path.join(root, 'build', 'Release', 'libbrake.so'));
    expect(existsSync(library)).toBe(true);
    expect(existsSync(path.join(include, 'brake.h'))).toBe(true);
    expect(readFileSync(path.join(pkgConfig, 'brake.pc'), 'utf8')).toContain(`libdir=${path.join(root, 'build', 'Release')}`);
    expect(same).toBe(true);
  });

  const gypAddon = path.join(root, 'build-gyp', 'build', 'Release', 'brake.node');
  it.runIf(existsSync(gypAddon) || !!process.env.CI)('the node-gyp build loads and runs a call', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const { Engine, addonPath } = require(${JSON.stringify(path.join(root, 'dist'))});
         Engine.fromSource('function add(a: int, b: int) -> int { a + b }')
           .then((e) => e.call('add', [2, 3]).then((v) => { console.log(addonPath(), v); return e.close(); }));`,
      ],
      { env: { ...process.env, BRAKE_ADDON_PATH: gypAddon } },
    ).toString();
    expect(out.trim()).toBe(`${gypAddon} 5`);
  });
});
