import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/docs-check',
    include: ['test/**/*.test.ts'],
    // the examples run a second time through a real redis-server
    globalSetup: ['test/global-setup.ts'],
    hookTimeout: 60_000,
    // the docs build and the examples start processes; on a 2-core machine one file at a time
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
