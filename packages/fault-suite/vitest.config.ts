import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/fault-suite',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // One backend's servers and processes at a time: timing faults need the 2 cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
