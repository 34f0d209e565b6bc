import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cleanEnv, repoRoot } from './paths.ts';

const outDir = mkdtempSync(join(tmpdir(), 'runonce-docs-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

it('the VitePress site builds, with no dead links', () => {
  const started = Date.now();
  const build = spawnSync(join(repoRoot, 'node_modules/.bin/vitepress'), ['build', 'docs', '--outDir', outDir], {
    cwd: repoRoot,
    env: { ...cleanEnv(), NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 110_000,
  });
  const output = `${build.stdout}\n${build.stderr}`;
  expect(build.status, output).toBe(0);
  expect(output).not.toMatch(/dead link/i);
  console.log(`vitepress build: ${Date.now() - started} ms`);
  for (const page of ['index', 'getting-started', 'concepts', 'troubleshooting', 'reference/cli', 'reference/api']) {
    expect(existsSync(join(outDir, `${page}.html`)), `${page}.html`).toBe(true);
  }
  expect(existsSync(join(outDir, 'guides', 'kubernetes.html'))).toBe(true);
});
