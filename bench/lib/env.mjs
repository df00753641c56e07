// What a result was measured on: machine, Node version, commit, date.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

function git(args, cwd) {
  // Read-only git queries; the harness never changes repository state.
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function environment(root) {
  const cpus = os.cpus();
  const status = git(['status', '--porcelain', '--untracked-files=no'], root);
  return {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model?.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    node: process.version,
    v8: process.versions.v8,
    commit: git(['rev-parse', 'HEAD'], root) ?? 'unknown',
    dirty: status === undefined ? undefined : status.length > 0,
  };
}
