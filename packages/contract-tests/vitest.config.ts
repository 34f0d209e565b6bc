import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/contract-tests',
    include: ['test/**/*.test.ts'],
    // the races start child processes; on a small machine one file at a time keeps them honest
    fileParallelism: false,
  },
});
