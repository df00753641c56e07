/**
 * `require('brake/native')` (or `import`): where brake's C ABI is, for a
 * host next to Node that calls it directly (Python through ctypes or cffi,
 * Rust, Go, a C program): the shared library `npm install` built
 * (libbrake.so, exporting only brake.h's functions), the header directory,
 * and the pkg-config file describing both. The library is built by cmake-js
 * beside the addon; the node-gyp build makes only the addon.
 *
 *   const { libraryPath } = require('brake/native');
 *   // python3: ctypes.CDLL(libraryPath)
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const built = path.join(root, 'build', 'Release');
const file = process.platform === 'darwin' ? 'libbrake.dylib' : 'libbrake.so';

/** The shared library (build/Release/libbrake.so), or undefined when this install has not built it. */
export const libraryPath: string | undefined = existsSync(path.join(built, file)) ? path.join(built, file) : undefined;

/** The directory holding brake.h (and brake_status.h). */
export const includeDir: string = path.join(root, 'native', 'include');

/** The directory holding brake.pc (for PKG_CONFIG_PATH), or undefined when not built. */
export const pkgConfigDir: string | undefined = existsSync(path.join(built, 'brake.pc')) ? built : undefined;
