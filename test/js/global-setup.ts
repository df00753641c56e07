// Runs once before the suites: the addon must be built (npm install / npm run
// build), and dist/ is recompiled so the CommonJS/ESM entry tests see the
// current lib/.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '..', '..');
  const addon = process.env.BRAKE_ADDON_PATH ?? path.join(root, 'build', 'Release', 'brake.node');
  if (!existsSync(addon) && !existsSync(path.join(root, 'build-gyp', 'build', 'Release', 'brake.node'))) {
    throw new Error(`native addon not built (${addon}); run \`npm run build\` first`);
  }
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
