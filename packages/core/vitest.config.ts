import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@runonce/core',
    include: ['src/**/*.test.ts'],
  },
});
