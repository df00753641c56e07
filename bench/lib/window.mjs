// The measurement window of the throughput samples (http, llm): after a
// warm-up, how far a counter advanced over a fixed time, with the process's
// CPU time and the main thread's event-loop utilisation meanwhile.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits spec.warmupMs, then measures spec.durationMs. `count()` reads the
 * number of units done so far. Resolves to { n, seconds, cpuUs, elu }.
 */
export async function measureWindow(spec, count) {
  await sleep(spec.warmupMs);
  const n0 = count();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await sleep(spec.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  return { n: count() - n0, seconds, cpuUs: cpu.user + cpu.system, elu: elu.utilization };
}
