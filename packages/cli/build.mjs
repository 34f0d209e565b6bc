// Bundles the CLI into dist/bundle/ so the skip path of `runonce exec` loads
// one small file instead of resolving dozens of modules. Each command is its
// own chunk (imported lazily); backend packages, their SDKs, inversify and yaml stay
// external, loaded only when a non-file backend is chosen.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

rmSync(new URL('./dist/bundle', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: { runonce: 'src/run.ts' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: ['@runonce/backend-*', '@aws-sdk/*', 'ioredis', 'inversify', 'yaml'],
  define: { RUNONCE_VERSION: JSON.stringify(version) },
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
