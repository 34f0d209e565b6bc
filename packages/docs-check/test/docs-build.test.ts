import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanEnv, repoRoot } from './paths.ts';

const outDir = mkdtempSync(join(tmpdir(), 'runonce-docs-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

let build: { status: number | null; output: string; ms: number };
beforeAll(() => {
  const started = Date.now();
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/vitepress'), ['build', 'docs', '--outDir', outDir], {
    cwd: repoRoot,
    env: { ...cleanEnv(), NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 110_000,
  });
  build = { status: r.status, output: `${r.stdout}\n${r.stderr}`, ms: Date.now() - started };
  console.log(`vitepress build: ${build.ms} ms`);
}, 120_000);

it('the VitePress site builds, with no dead links', () => {
  expect(build.status, build.output).toBe(0);
  expect(build.output).not.toMatch(/dead link/i);
  for (const page of [
    'index',
    'getting-started',
    'install',
    'concepts',
    'troubleshooting',
    'reference/cli',
    'reference/api',
  ]) {
    expect(existsSync(join(outDir, `${page}.html`)), `${page}.html`).toBe(true);
  }
  expect(existsSync(join(outDir, 'guides', 'kubernetes.html'))).toBe(true);
});

it('the built site works from a plain static file server: every internal link names a file that exists', () => {
  // A static server (python -m http.server, nginx without try_files, S3) maps a
  // URL to a file and nothing else: /getting-started is not /getting-started.html.
  expect(build.status, build.output).toBe(0);
  const pages = readdirSync(outDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.html'));
  expect(pages.length).toBeGreaterThan(10);
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    const html = readFileSync(join(outDir, page), 'utf8');
    for (const [, href] of html.matchAll(/<a [^>]*href="([^"]+)"/g)) {
      if (!href || /^([a-z]+:|#|\/\/)/i.test(href)) continue;
      const path = href.replace(/[#?].*$/, '');
      if (path === '') continue;
      const url = path.startsWith('/') ? path : posix.join('/', dirname(page), path);
      const file = join(outDir, url.endsWith('/') ? `${url}index.html` : url);
      checked++;
      if (!existsSync(file)) broken.push(`${page}: ${href} (no ${relative(outDir, file)})`);
    }
  }
  expect(checked).toBeGreaterThan(50);
  expect(broken).toEqual([]);
});
