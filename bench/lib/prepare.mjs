// Getting the harness's dependencies ready: the native bench programs (cmake)
// and BAML's Node runtime (npm, into bench/peers/baml only, never the package).
import { existsSync, readFileSync } from 'node:fs';
import { run } from './proc.mjs';

export const NATIVE_TARGETS = ['vm_bench', 'cancel_latency', 'call_throughput'];

/**
 * Configures and builds `targets` in build/<dir> (incremental: fast when up
 * to date). Resolves { ok, reason }.
 */
export async function buildNative(root, dir, targets, extraDefs, progress) {
  const buildDir = `${root}/build/${dir}`;
  progress(`building ${targets.join(', ')} in build/${dir} (cmake, Release${extraDefs.length ? `, ${extraDefs.join(' ')}` : ''})`);
  const conf = await run('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', ...extraDefs]);
  if (conf.code !== 0) return { ok: false, reason: `cmake configure failed: ${conf.stderr.trim().slice(-300)}` };
  const build = await run('cmake', ['--build', buildDir, '-j2', ...targets.flatMap((t) => ['--target', t])]);
  if (build.code !== 0) return { ok: false, reason: `cmake build failed: ${(build.stdout + build.stderr).trim().slice(-500)}` };
  return { ok: true };
}

/**
 * Installs the pinned @boundaryml/baml into bench/peers/baml (when missing and
 * installing is allowed) and generates its TypeScript client from
 * bench/peers/baml/baml_src with beta features on (expression functions).
 * Resolves { available, version, reason }.
 */
export async function prepareBaml(benchDir, { install, progress }) {
  const dir = `${benchDir}/peers/baml`;
  const pinned = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).dependencies['@boundaryml/baml'];
  const installed = `${dir}/node_modules/@boundaryml/baml/package.json`;
  const version = () => (existsSync(installed) ? JSON.parse(readFileSync(installed, 'utf8')).version : undefined);
  if (version() !== pinned) {
    if (!install) return { available: false, reason: `@boundaryml/baml ${pinned} is not installed in bench/peers/baml (run without --no-install)` };
    // The version is pinned exactly in package.json. npm's lock files leave
    // out this package's per-platform optional dependencies (so `npm ci`
    // refuses them), hence a plain install without a lock file.
    progress(`installing @boundaryml/baml ${pinned} into bench/peers/baml (npm install)`);
    const args = ['install', '--no-package-lock'];
    const r = await run('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, timeoutMs: 300_000 });
    if (r.code !== 0 || version() !== pinned) {
      return { available: false, reason: `npm ${args[0]} of @boundaryml/baml ${pinned} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}` };
    }
  }
  try {
    await import('tsx/cjs/api');
  } catch {
    return { available: false, reason: 'tsx (a devDependency of brake) is needed to load the generated TypeScript client: run npm install at the root' };
  }
  progress('generating the BAML client (baml-cli generate --features beta)');
  const gen = await run('node', [`${dir}/node_modules/@boundaryml/baml/cli.js`, 'generate', '--features', 'beta', '--from', `${dir}/baml_src`], { cwd: dir, timeoutMs: 120_000 });
  if (gen.code !== 0 || !existsSync(`${dir}/baml_client/index.ts`)) {
    return { available: false, reason: `baml-cli generate failed: ${(gen.stderr || gen.stdout).trim().split('\n').slice(-3).join(' ')}` };
  }
  return { available: true, version: pinned };
}
