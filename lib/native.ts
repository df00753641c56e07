/**
 * Finds and loads the native addon, once per module instance, and hands it
 * the error classes (native picks the class by status code from this table;
 * it never parses message text), the Float marker class and
 * util.types.isProxy (N-API has no way to tell a Proxy from an object).
 *
 * Search order: $BRAKE_ADDON_PATH, then the cmake-js build
 * (build/Release/brake.node, from `npm install` / `npm run build`), then the
 * node-gyp build (build-gyp/build/Release/brake.node, from `npm run
 * build:gyp`), then the Debug builds.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { types } from 'node:util';

import { ERROR_CLASS_BY_STATUS, STATUS_NAMES, codeForStatus, type StatusName } from './errors';
import type { NativeModule } from './native-types';
import { Float, fromJson } from './values';

/**
 * brake.h's limits (BRAKE_MAX_*), which lib checks before native work with
 * the same words as the addon and the C ABI; the addon reports its own
 * copy and loading fails if they differ.
 */
export const LIMITS = Object.freeze({
  /** EngineOptions.workerThreads. */
  maxWorkerThreads: 256,
  /** EngineOptions.maxCallDepth. */
  maxCallDepth: 100_000,
  /** CallOptions.timeoutMs: 365 days, the longest wait of the engine. */
  maxTimeoutMs: 31_536_000_000,
});

/** The package root (lib/ and dist/ both sit one level below it). */
export const packageRoot = path.resolve(__dirname, '..');

/** Where the addon is looked for, in order. */
export function addonCandidates(): string[] {
  const list = [
    path.join(packageRoot, 'build', 'Release', 'brake.node'),
    path.join(packageRoot, 'build-gyp', 'build', 'Release', 'brake.node'),
    path.join(packageRoot, 'build', 'Debug', 'brake.node'),
    path.join(packageRoot, 'build-gyp', 'build', 'Debug', 'brake.node'),
  ];
  const forced = process.env.BRAKE_ADDON_PATH;
  return forced ? [path.resolve(forced)] : list;
}

let loaded: NativeModule | undefined;
let loadedFrom: string | undefined;

/** The path the addon was loaded from (after the first {@link native} call). */
export function addonPath(): string | undefined {
  return loadedFrom;
}

/** Loads the addon on first use. */
export function native(): NativeModule {
  if (loaded) return loaded;
  const candidates = addonCandidates();
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new Error(
      `brake: native addon not found (looked in ${candidates.join(', ')}); run \`npm run build\` or \`npm run build:gyp\``,
    );
  }
  const mod = createRequire(__filename)(file) as NativeModule;
  checkStatusTable(mod.statusNames);
  checkLimits(mod.limits);
  const classes = mod.statusNames.map((name) =>
    name === 'OK' ? undefined : ERROR_CLASS_BY_STATUS[name as Exclude<StatusName, 'OK'>],
  );
  const codes = mod.statusNames.map((name) => codeForStatus(name as StatusName));
  mod.setup(classes, codes, Float, types.isProxy, fromJson);
  loaded = mod;
  loadedFrom = file;
  return mod;
}

function checkStatusTable(names: readonly string[]): void {
  if (names.length !== STATUS_NAMES.length || names.some((n, i) => n !== STATUS_NAMES[i])) {
    throw new Error(
      `brake: the addon's status list (${names.join(',')}) does not match lib/errors.ts; rebuild the package`,
    );
  }
}

function checkLimits(limits: NativeModule['limits'] | undefined): void {
  for (const name of Object.keys(LIMITS) as Array<keyof typeof LIMITS>) {
    if (limits?.[name] !== LIMITS[name]) {
      throw new Error(
        `brake: the addon's ${name} (${limits?.[name]}) does not match lib/native.ts (${LIMITS[name]}); rebuild the package`,
      );
    }
  }
}
