import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/release-check',
    include: ['test/**/*.test.ts'],
    // Builds dist/release once (pnpm release:pack, without its build step: `pnpm test` has just built).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
