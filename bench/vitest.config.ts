import { defineConfig } from 'vitest/config';

// Only the smoke test: the benchmarks themselves run with `pnpm bench`, never in `pnpm test`.
export default defineConfig({
  test: {
    name: '@runonce/bench',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
