// How the native transport waits: epoll over libcurl's socket interface
// (brake's CurlDriver) against curl_multi_perform + curl_multi_poll, with
// 0, 1,000 and 5,000 idle transfers in flight beside one busy request loop
// (bench/native/curl_wait.cpp, against the benchmarks' Node server).
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';

export default {
  name: 'curl-wait',
  title: 'Native HTTP wait: epoll vs curl_multi_poll',
  native: true,
  async run(ctx) {
    const bin = ctx.nativeBin('curl_wait');
    if (!existsSync(bin)) return { figures: [], notes: ['Skipped: this build has no libcurl (no native transport).'] };
    const server = fork(`${ctx.benchDir}/workers/http-server-process.mjs`, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const port = await new Promise((resolve) => server.on('message', (m) => m.port && resolve(m.port)));
    const figures = [];
    const ms = ctx.quick ? 300 : 1500;
    const sizes = ctx.quick ? [0, 1000] : [0, 1000, 5000];
    const labels = { epoll: 'epoll + socket callbacks (brake)', poll: 'curl_multi_poll' };
    try {
      for (const idle of sizes) {
        const values = await ctx.alternate(
          Object.keys(labels),
          (mode) => ctx.runJson(bin, [String(port), mode, String(idle), String(ms)], { timeoutMs: 120_000 }),
          (r) => `${Math.round(r.requestsPerSec).toLocaleString('en-US')} req/s, ${r.cpuUsPerRequest.toFixed(1)} µs CPU/req`,
          ctx.runs,
          `${idle} idle`,
        );
        for (const [mode, label] of Object.entries(labels)) {
          figures.push(
            ctx.figure({ metric: `requests/s, one at a time, ${idle.toLocaleString('en-US')} idle transfers`, variant: label, unit: 'req/s', better: 'higher', values: values[mode].map((r) => r.requestsPerSec) }),
            ctx.figure({ metric: `CPU per request, ${idle.toLocaleString('en-US')} idle transfers`, variant: label, unit: 'µs', better: 'lower', values: values[mode].map((r) => r.cpuUsPerRequest) }),
          );
        }
      }
    } finally {
      server.disconnect();
    }
    return {
      figures,
      notes: [
        `Each run: a fresh process opens N transfers to a route that never answers, then sends one OpenAI-shaped POST at a time for ${ms} ms (timed from the first answer, when the idle ones are connected); CPU is the process's. epoll: brake's own driver (http::CurlDriver, as a worker uses it). curl_multi_poll: curl_multi_perform, then curl_multi_poll, which looks at every transfer and socket on each turn.`,
      ],
    };
  },
};
