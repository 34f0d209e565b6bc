import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // .ci/run asks for a JSON report beside the usual output, to print its count line.
    reporters: process.env.RUNONCE_VITEST_JSON
      ? ['default', ['json', { outputFile: process.env.RUNONCE_VITEST_JSON }]]
      : ['default'],
    projects: ['packages/*', 'bench'],
  },
});
