// Type test of the ESM entry's .d.mts.
import { Engine, CancelledError, type EngineOptions } from 'brake';

const options: EngineOptions = { workerThreads: 1, maxCallDepth: 100, fileName: 'a.baml' };
const engine = await Engine.fromSource<{ f(): boolean }>('...', options);
const ok: boolean = await engine.call('f');
// @ts-expect-error workerThreads is a number
const bad: EngineOptions = { workerThreads: '2' };
export const checks = [ok, bad, new CancelledError('x', { origin: 'signal' })];
