// Run by `npm install` before the native build (package.json "install"):
// when cmake or a C++ compiler is missing, says so in one line, with how to
// get them, instead of leaving the user a page of cmake-js output.
'use strict';
const { spawnSync } = require('node:child_process');

const runs = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const missing = [];
const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
const version = /cmake version (\d+)\.(\d+)/.exec(cmake.stdout ?? '');
if (cmake.status !== 0 || !version || Number(version[1]) * 100 + Number(version[2]) < 319) missing.push('cmake (3.19 or newer)');
const cxx = process.env.CXX || 'c++';
if (!runs(cxx, ['--version'])) missing.push(`a C++17 compiler (${cxx})`);
if (missing.length) {
  console.error(
    `brake: cannot build its native addon: ${missing.join(' and ')} not found on PATH. ` +
      'Install them (Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install and brew install cmake) and run npm install again.',
  );
  process.exit(1);
}
