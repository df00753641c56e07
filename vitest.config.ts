import { defineConfig } from 'vitest/config';

// Fork pool: every test file runs in its own child process, so a crash in the
// native addon takes down one file, not the run, and each file gets a fresh
// N-API environment.
export default defineConfig({
  test: {
    include: ['test/js/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/js/global-setup.ts'],
  },
});
