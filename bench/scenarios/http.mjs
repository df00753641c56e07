// HTTP: baml.http.fetch (native transport on brake's workers: its own
// HTTP/1.1 client for these plain-HTTP requests, and with libcurl for every
// request; and host transport: Node's fetch) against undici.request (keep-alive Agent) and
// Node's fetch, all against one local server in a process of its own
// (bench/workers/http-sample.mjs).
import { quantile, sortNumbers } from '../lib/stats.mjs';

export default {
  name: 'http',
  title: 'HTTP requests: throughput, CPU, cancellation',
  async run(ctx) {
    const sample = (spec) => ctx.runJson(process.execPath, ['--expose-gc', `${ctx.benchDir}/workers/http-sample.mjs`, JSON.stringify(spec)], { cwd: ctx.root, timeoutMs: 300_000 });
    const label = { floor: 'bare abort listener (floor)', brake: 'brake (native transport)', 'brake-libcurl': 'brake (native, libcurl only)', 'brake-host': 'brake (host transport)', undici: 'undici.request', fetch: 'fetch' };
    const variants = Object.keys(label).filter((v) => v !== 'floor');
    const figures = [];

    const tp = { kind: 'throughput', inFlight: 64, warmupMs: ctx.quick ? 200 : 500, durationMs: ctx.quick ? 500 : 2000 };
    const through = await ctx.alternate(variants, (variant) => sample({ ...tp, variant }), (r) => `${Math.round(r.requestsPerSec).toLocaleString('en-US')} req/s, ${r.cpuUsPerRequest.toFixed(0)} µs CPU/req, ELU ${r.elu.toFixed(2)}`, ctx.runs, 'throughput');
    for (const v of variants) {
      figures.push(
        ctx.figure({ metric: 'requests/s (64 in flight)', variant: label[v], unit: 'req/s', better: 'higher', values: through[v].map((r) => r.requestsPerSec) }),
        ctx.figure({ metric: 'client CPU per request', variant: label[v], unit: 'µs', better: 'lower', values: through[v].map((r) => r.cpuUsPerRequest) }),
        ctx.figure({ metric: 'main-thread event-loop utilisation', variant: label[v], unit: '', better: 'lower', values: through[v].map((r) => r.elu) }),
      );
    }

    const ab = { kind: 'abort', samples: ctx.quick ? 30 : 200, warmup: 10 };
    // The floor: Node's own abort (a bare listener rejecting a promise), in the same run.
    const abortVariants = [...variants, 'floor'];
    const aborts = await ctx.alternate(abortVariants, (variant) => sample({ ...ab, variant }), (r) => `settle p50 ${median(r.settleUs).toFixed(0)} µs${r.closeUs.length ? `, close p50 ${median(r.closeUs).toFixed(0)} µs` : ''}`, ctx.runs, 'abort');
    for (const v of abortVariants) {
      for (const [key, what] of [['settleUs', 'abort → settled'], ['closeUs', 'abort → server sees the socket close']]) {
        if (!aborts[v][0][key].length) continue;
        figures.push(
          ctx.figure({ metric: `${what} p50`, variant: label[v], unit: 'µs', better: 'lower', values: aborts[v].map((r) => q(r[key], 0.5)) }),
          ctx.figure({ metric: `${what} p99`, variant: label[v], unit: 'µs', better: 'lower', values: aborts[v].map((r) => q(r[key], 0.99)) }),
        );
      }
    }

    const calls = ctx.quick ? 500 : 5000;
    const mass = await ctx.alternate(variants, (variant) => sample({ kind: 'massAbort', calls, variant }), (r) => `settled ${r.settledMs.toFixed(1)} ms, closed ${r.closedMs.toFixed(1)} ms`, ctx.runs, 'mass abort');
    for (const v of variants) {
      figures.push(
        ctx.figure({ metric: `${calls.toLocaleString('en-US')} in flight, abort → all settled`, variant: label[v], unit: 'ms', better: 'lower', values: mass[v].map((r) => r.settledMs) }),
        ctx.figure({ metric: `${calls.toLocaleString('en-US')} in flight, abort → every socket closed`, variant: label[v], unit: 'ms', better: 'lower', values: mass[v].map((r) => r.closedMs) }),
      );
      if (mass[v][0]?.clientClosedMs !== undefined) {
        figures.push(ctx.figure({ metric: `${calls.toLocaleString('en-US')} in flight, abort → every socket closed (client side)`, variant: label[v], unit: 'ms', better: 'lower', values: mass[v].map((r) => r.clientClosedMs) }));
      }
    }

    const memCalls = ctx.quick ? 200 : 2000;
    const mem = await ctx.alternate(variants, (variant) => sample({ kind: 'memory', calls: memCalls, variant }), (r) => `${Math.round(r.bytesPerRequest).toLocaleString('en-US')} B/request`, ctx.runs, 'memory');
    for (const v of variants) {
      figures.push(ctx.figure({ metric: 'memory per in-flight request (RSS)', variant: label[v], unit: 'B', better: 'lower', values: mem[v].map((r) => r.bytesPerRequest) }));
    }
    const servers = [...new Set(variants.flatMap((v) => through[v].map((r) => r.server)))];

    return {
      figures,
      headline: (h) =>
        h.row(
          'HTTP, 64 in flight: requests/s / client CPU per request',
          [['requests/s (64 in flight)', label.brake], ['client CPU per request', label.brake]],
          [['requests/s (64 in flight)', label.undici], ['client CPU per request', label.undici]],
        ),
      charts: [
        ctx.bars({ file: 'http', title: 'HTTP: client CPU per request, 64 in flight (µs)', unit: 'µs', figures: figures.filter((f) => f.metric === 'client CPU per request') }),
      ],
      notes: [
        `Throughput server: ${servers.includes('nginx') ? 'nginx (Debian\'s package; one worker process, started and stopped by the benchmark: bench/lib/nginx.mjs)' : 'Node\'s http module in a child process (nginx is not installed on this machine)'}, answering POST /v1/chat/completions with a 260-byte OpenAI-shaped JSON reply over keep-alive connections. Client and server share the machine\'s two cores, so requests/s is bounded by both; client CPU per request (process.cpuUsage of the client process, all its threads, over the measured window) does not depend on the server. The abort, mass-abort and memory samples use the Node server (it reports when each socket closes).`,
        'brake: engine.call("chat", [url, body]) whose script POSTs with baml.http.fetch (headers, a string body) and reads the body; performed by the native transport on the engine\'s workers (brake (native transport): its own HTTP/1.1 client, which takes plain HTTP; brake (native, libcurl only): http.transport \'libcurl\', libcurl\'s multi interface for every request; keep-alive per worker either way) or the host transport (Node\'s fetch). undici.request: a keep-alive Agent, body read as text. fetch: Node\'s global fetch, body read as text.',
        `abort: each sample starts a request to a route that never answers, waits until the server has it and 2 ms more, then aborts the call's (or request's) AbortSignal; times are to the promise settling and to the server's socket 'close' event (clocks compared across the two processes via performance.timeOrigin). ${ab.samples} samples per run after ${ab.warmup} warm-up. The floor, measured in the same run, is Node's own abort with no request: one listener rejecting a pending promise with signal.reason (abort() building its DOMException, the dispatch, the rejection and the resumption); nothing that cancels real work can settle faster.`,
        `mass abort: ${calls.toLocaleString('en-US')} such requests on one signal, all at the server, aborted at once. "Every socket closed" is when the server process saw the last close (it needs about 300 ms to process 5,000 closes whoever the client is); "client side" is when brake's own socket count (engine.httpStats) reached 0.`,
        `memory: resident memory of the client process with ${memCalls.toLocaleString('en-US')} requests waiting for headers, after a GC, minus the same process after one request, per request.`,
      ],
    };
  },
};

const median = (xs) => quantile(sortNumbers(xs), 0.5);
const q = (xs, p) => quantile(sortNumbers(xs), p);
