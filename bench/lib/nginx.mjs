// nginx as the HTTP benchmarks' throughput server, when the machine has it
// (Debian's nginx package): one worker process answering
// POST /v1/chat/completions with the same OpenAI-shaped JSON reply as
// bench/workers/http-server-process.mjs, over keep-alive connections, so the
// server is not what bounds the client. Started and stopped by the
// benchmark, with its config and logs in a temporary directory.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The nginx binary, or undefined when the machine has none. */
export function findNginx() {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function accepts(port, deadlineMs) {
  while (performance.now() < deadlineMs) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * Starts nginx replying `reply` (a JSON string) to /v1/chat/completions.
 * Resolves to { port, stop() }, or undefined when nginx is absent or does not start.
 */
export async function startNginx(reply) {
  const bin = findNginx();
  if (!bin) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'brake-nginx-'));
  const port = await freePort();
  const quoted = reply.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const conf = `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    location /v1/chat/completions {
      default_type application/json;
      return 200 '${quoted}';
    }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(bin, ['-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const stop = async () => {
    child.kill('SIGQUIT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  if (!(await accepts(port, performance.now() + 5000))) {
    await stop();
    return undefined;
  }
  return { port, stop };
}
