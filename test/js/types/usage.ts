// Type test of the published .d.ts (CommonJS entry, resolved through package.json "exports").
// Checked by `tsc -p test/js/types` (test/js/10-types.test.ts); never run.
import {
  BrakeError,
  CancelledError,
  CompileError,
  Engine,
  Float,
  ScriptError,
  TimeoutError,
  className,
  type BrakeErrorCode,
  type CallOptions,
  type CancelOrigin,
} from 'brake';

interface Program {
  add(a: number, b: number): number;
  greet(name: string): string;
}

export async function typed(): Promise<void> {
  const engine = await Engine.fromSource<Program>('...', { workerThreads: 2 });
  const sum: number = await engine.call('add', [1, 2]);
  const text: string = await engine.call('greet', { name: 'x' });
  // @ts-expect-error unknown function name
  await engine.call('nope', []);
  // @ts-expect-error wrong argument type
  await engine.call('add', ['1', 2]);
  // @ts-expect-error result is a string
  const wrong: number = await engine.call('greet', ['x']);
  const options: CallOptions = { signal: AbortSignal.timeout(10), callId: 5n, timeoutMs: 100 };
  await engine.call('add', [1, 2], options);
  // @ts-expect-error callId must be a number or bigint
  await engine.call('add', [1, 2], { callId: '5' });
  const found: boolean = engine.cancel(5);
  const live: number = engine.liveCalls;
  await engine.close();
  await using disposable = await Engine.fromFile('x.baml');
  const anything: unknown = await disposable.call('whatever', [new Float(2), 1n, null, { k: [1] }]);
  void [sum, text, wrong, found, live, anything];
}

export function errors(error: unknown): string {
  if (error instanceof TimeoutError) {
    const origin: CancelOrigin = error.origin;
    return origin;
  }
  if (error instanceof CancelledError) return `${error.callId} ${error.cause}`;
  if (error instanceof CompileError) return error.diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.message}`).join();
  if (error instanceof ScriptError) return error.kind + error.frames.map((f) => `${f.function}:${f.line}`).join();
  if (error instanceof BrakeError) {
    const code: BrakeErrorCode = error.code;
    // @ts-expect-error not a brake code
    const bad: BrakeErrorCode = 'ERR_NOPE';
    return code + bad;
  }
  return className(error) ?? '';
}
