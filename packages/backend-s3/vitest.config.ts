import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/backend-s3',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
