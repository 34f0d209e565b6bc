import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { provideRedis, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_DIR, namespace, npm, ROOT, run, scratch, tarball } from './helpers.js';

// The library as a user gets it: the packed tarballs of @runonce/core and the
// backends installed into a scratch project with plain npm (their SDKs come
// from the registry as ordinary dependencies), then every TypeScript snippet
// of the README, docs/library.md and the packages' READMEs type-checked
// against them under the strictest options users turn on, and the README's
// snippet run against a real Redis.
const project = scratch('library');
const SOURCES = [
  'README.md',
  'docs/library.md',
  'packages/core/README.md',
  'packages/backend-ssm/README.md',
  'packages/backend-dynamodb/README.md',
  'packages/backend-redis/README.md',
  'packages/backend-postgres/README.md',
  'packages/backend-s3/README.md',
];
const snippets: { file: string; from: string }[] = [];
let redis: Service;

beforeAll(async () => {
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  const packages = [
    '@runonce/core',
    '@runonce/backend-ssm',
    '@runonce/backend-dynamodb',
    '@runonce/backend-redis',
    '@runonce/backend-postgres',
    '@runonce/backend-s3',
  ];
  const r = await npm(['install', '--prefer-offline', ...packages.map(tarball), '@types/node@24'], project);
  expect(r.code, r.stderr).toBe(0);
  mkdirSync(join(project, 'snippets'));
  for (const source of SOURCES) {
    const text = readFileSync(join(ROOT, source), 'utf8');
    const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    blocks.forEach((code, i) => {
      const file = `snippets/${source.replace(/[/.]/g, '_')}-${i + 1}.ts`;
      writeFileSync(join(project, file), code);
      snippets.push({ file, from: `${source}, block ${i + 1}` });
    });
  }
  // What the snippets leave to the reader: their own migration.
  writeFileSync(
    join(project, 'snippets/reader.d.ts'),
    'declare function migrate(o: { fencingToken: number; signal: AbortSignal }): Promise<void>;\n',
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2023',
        lib: ['es2023'],
        types: ['node'],
        noEmit: true,
        skipLibCheck: true,
      },
      include: ['snippets'],
    }),
  );
  redis = await provideRedis();
});
afterAll(() => redis?.stop());

describe('the library from its tarballs', () => {
  it('finds the snippets it checks (README, docs/library.md, the packages’ READMEs)', () => {
    const from = new Set(snippets.map((s) => s.from.split(',')[0]));
    expect([...from].sort()).toEqual([...SOURCES].sort());
  });

  it('every snippet type-checks under strict, exactOptionalPropertyTypes and noUncheckedIndexedAccess', async () => {
    const tsc = join(createRequire(import.meta.url).resolve('typescript/package.json'), '../bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', project], { env: { PATH: NODE_DIR }, cwd: project });
    const named = snippets.reduce((text, s) => text.replaceAll(s.file, `${s.file} (${s.from})`), r.stdout);
    expect(r.code, named + r.stderr).toBe(0);
  });

  it('the README’s snippet runs against a real Redis: migrates once, then finds it done', async () => {
    const readme = snippets.find((s) => s.from.startsWith('README.md'));
    if (!readme) throw new Error('README.md has no ts snippet');
    writeFileSync(
      join(project, 'reader.mjs'),
      'globalThis.migrate = async ({ fencingToken }) => console.log("migrating (fencing token " + fencingToken + ")");\n',
    );
    const env = { PATH: NODE_DIR, RUNONCE_REDIS_URL: redis.url, RUNONCE_NAMESPACE: namespace() };
    const args = ['--import', './reader.mjs', readme.file];
    const first = await run(process.execPath, args, { env, cwd: project });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('migrating (fencing token 1)');
    expect(first.stdout).toContain('migrated here');
    const second = await run(process.execPath, args, { env, cwd: project });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toContain('migrating');
    expect(second.stdout).toMatch(/already done by /);
  });

  it('@runonce/core/otel without @opentelemetry/api installed (an optional peer): instrument() does nothing, runs go on', async () => {
    writeFileSync(
      join(project, 'otel-absent.mjs'),
      [
        "import { MemoryBackend, RunOnce } from '@runonce/core';",
        "import { instrument } from '@runonce/core/otel';",
        'const runonce = new RunOnce({ backend: new MemoryBackend() });',
        'const run = runonce.run;',
        'const undo = await instrument(runonce);',
        "const out = await runonce.run('t', () => 'ran');",
        'console.log(JSON.stringify({ untouched: runonce.run === run, state: out.state, undo: typeof undo }));',
      ].join('\n'),
    );
    const r = await run(process.execPath, ['otel-absent.mjs'], { env: { PATH: NODE_DIR }, cwd: project });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ untouched: true, state: 'done', undo: 'function' });
  });
});
