// npm run fuzz [-- --seconds N] [--only NAME]: builds the libFuzzer harnesses
// (test/fuzz/*_fuzz.cpp; clang with -fsanitize=fuzzer,address,undefined, in
// build/fuzz) and runs each for N seconds (default 60), starting from the
// committed seeds (test/fuzz/seeds/<name>; the compiler's are test/lang's
// programs) plus what earlier runs found (build/fuzz/corpus/<name>).
// Prints executions per second, coverage and the corpus size per harness;
// exits 1 when a harness crashed (its input is in build/fuzz/artifacts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, only: { type: 'string' } } });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) {
  console.error('fuzz: --seconds must be a positive integer');
  process.exit(2);
}
const build = path.join(root, 'build', 'fuzz');
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
sh('cmake', ['-S', '.', '-B', build, '-DCMAKE_C_COMPILER=clang', '-DCMAKE_CXX_COMPILER=clang++', '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DBRAKE_FUZZ=ON']);
sh('cmake', ['--build', build, '-j2']);

const harnesses = readdirSync(path.join(root, 'test', 'fuzz'))
  .filter((f) => f.endsWith('_fuzz.cpp'))
  .map((f) => f.replace(/_fuzz\.cpp$/, ''))
  .filter((name) => !values.only || values.only === name);
const seedsOf = (name) => (name === 'compile' ? path.join(root, 'test', 'lang') : path.join(root, 'test', 'fuzz', 'seeds', name));
const artifacts = path.join(build, 'artifacts') + path.sep;
mkdirSync(artifacts, { recursive: true });

const rows = [];
let crashed = false;
for (const name of harnesses) {
  const corpus = path.join(build, 'corpus', name);
  mkdirSync(corpus, { recursive: true });
  const args = [
    `-max_total_time=${seconds}`,
    '-print_final_stats=1',
    '-timeout=10',
    '-rss_limit_mb=2048',
    '-max_len=65536',
    `-artifact_prefix=${artifacts}${name}-`,
    corpus,
    ...(existsSync(seedsOf(name)) ? [seedsOf(name)] : []),
  ];
  console.log(`fuzz: ${name} for ${seconds} s`);
  const r = spawnSync(path.join(build, `${name}_fuzz`), args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  const err = r.stderr ?? '';
  const stat = (key) => Number((err.match(new RegExp(`stat::${key}:\\s*(\\d+)`)) ?? [])[1] ?? NaN);
  const last = [...err.matchAll(/cov: (\d+) ft: (\d+) corp: (\d+)/g)].pop();
  const ok = r.status === 0;
  if (!ok) {
    crashed = true;
    console.error(err.split('\n').slice(-60).join('\n'));
  }
  rows.push({
    harness: name,
    ok,
    executions: stat('number_of_executed_units'),
    execPerSec: stat('average_exec_per_sec'),
    coverage: last ? Number(last[1]) : NaN,
    features: last ? Number(last[2]) : NaN,
    corpus: last ? Number(last[3]) : NaN,
  });
}
console.table(rows);
process.exit(crashed ? 1 : 0);
