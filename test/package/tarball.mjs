// The packed tarball in a scratch project, as a user gets brake (.ci/run):
// `npm pack`, then `npm install <tarball>` in an empty project (the install
// checks the toolchain and builds the addon and libbrake.so from source),
// then a call from CommonJS, one from ESM (with a CancelledError from the
// same classes), the `brake` command, and require('brake/native'). Prints
// the time from the start of `npm install` to the first call's result.
//   node test/package/tarball.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'brake-tarball-'));
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', ...options }).trim();
const expect = (what, got, want) => {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  console.log(`ok: ${what}`);
};

try {
  const tarball = run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root }).split('\n').pop();
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  const started = performance.now();
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, tarball)], { cwd: dir, stdio: 'inherit' });
  const installed = performance.now();
  const cjs = run(process.execPath, [
    '-e',
    `const { Engine } = require('brake');
     Engine.fromSource('function add(a: int, b: int) -> int { a + b }')
       .then(async (e) => { console.log(await e.call('add', [2, 3])); await e.close(); });`,
  ]);
  const firstCall = performance.now();
  expect('a call from CommonJS', cjs, '5');
  writeFileSync(
    path.join(dir, 'esm.mjs'),
    `import { Engine, CancelledError } from 'brake';
     import { createRequire } from 'node:module';
     const cjs = createRequire(import.meta.url)('brake');
     const e = await Engine.fromSource('function nap(ms: int) -> int { baml.sys.sleep(ms); ms }');
     const ac = new AbortController();
     const p = e.call('nap', [60000], { signal: ac.signal });
     ac.abort();
     const error = await p.catch((x) => x);
     console.log(error instanceof CancelledError, error instanceof cjs.CancelledError, await e.call('nap', [1]));
     await e.close();`,
  );
  expect('a call and a cancel from ESM (one copy of the classes)', run(process.execPath, ['esm.mjs']), 'true true 1');
  writeFileSync(path.join(dir, 'hello.baml'), 'function main() -> string { "hi" }\n');
  expect('the brake command', run('npx', ['--no-install', 'brake', 'run', 'hello.baml']), '"hi"');
  const lib = run(process.execPath, ['-p', "require('brake/native').libraryPath"]);
  expect('require(\'brake/native\').libraryPath exists', existsSync(lib), true);
  console.log(
    JSON.stringify({
      npmInstallMs: Math.round(installed - started),
      installToFirstCallMs: Math.round(firstCall - started),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
