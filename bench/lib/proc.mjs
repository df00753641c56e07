// Child processes: every sample runs in a fresh process so that runs and
// peers cannot disturb each other (heap, JIT state, threads, memory).
import { spawn, spawnSync } from 'node:child_process';

/** Runs a command; resolves with stdout, stderr and the exit code. Never rejects. */
export function run(cmd, args, { cwd, env, timeoutMs = 600_000, input } = {}) {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let child;
    try {
      child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      resolve({ code: -1, stdout, stderr: String(error) });
      return;
    }
    const timer = setTimeout(() => {
      stderr += `\n[bench] killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => (stderr += String(error)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** Runs a command that prints one JSON line last; resolves with it, or throws with the output. */
export async function runJson(cmd, args, options) {
  const r = await run(cmd, args, options);
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  if (r.code !== 0 || !line) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  }
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${cmd} ${args.join(' ')}: not JSON: ${line.slice(0, 200)}`);
  }
}

/** The path of an executable on PATH, or undefined. */
export function which(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** First line of `cmd args` (stdout or stderr), for tool versions; '' when it fails. */
export function versionOf(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n')[0] ?? '';
}
