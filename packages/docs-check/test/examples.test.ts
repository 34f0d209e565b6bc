import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { cleanEnv, repoRoot } from './paths.ts';

function example(name: string, store: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // every RUNONCE_* setting of this shell is left out: the file backend in a temp dir, or the store given
    const child = spawn(process.execPath, [join(repoRoot, 'scripts/example.mjs'), name], {
      cwd: repoRoot,
      env: { ...cleanEnv(), ...store },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, ms: Date.now() - started }));
  });
}

// Each example checks its own outcome and prints "ok: …" only when the task ran exactly as it should.
const cases: [string, RegExp][] = [
  ['odoo-upgrade', /^ok: odoo-upgrade ran once across 4 instances/m],
  ['django-migrate', /^ok: django-migrate ran once per deployment/m],
  ['node-seed', /^ok: seed ran once/m],
  ['cron-lock', /^ok: cron runs never overlapped/m],
];

it('every runnable example under examples/ is exercised here', () => {
  const examples = join(repoRoot, 'examples');
  const runnable = readdirSync(examples).filter(
    (n) => existsSync(join(examples, n, 'run.sh')) || existsSync(join(examples, n, 'index.mjs')),
  );
  expect(runnable.sort()).toEqual(cases.map(([n]) => n).sort());
});

const stores: [string, () => NodeJS.ProcessEnv][] = [
  ['file', () => ({})],
  ['redis', () => ({ RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_URL: inject('redisUrl') })],
];

it("django-migrate keeps runonce's state in the app's own PostgreSQL (DATABASE_URL, a real server)", async () => {
  const { code, output, ms } = await example('django-migrate', {
    RUNONCE_BACKEND: 'postgres',
    DATABASE_URL: inject('postgresUrl'),
  });
  expect(code, output).toBe(0);
  expect(output).toMatch(/created PostgreSQL table runonce|PostgreSQL table runonce exists/);
  expect(output).toMatch(/^ok: django-migrate ran once per deployment/m);
  expect(output).not.toMatch(/FAIL/);
  console.log(`example django-migrate on postgres: ${ms} ms`);
});

describe.each(stores)('every example runs as it is, on %s', (store, env) => {
  it.each(cases)('%s', async (name, evidence) => {
    const { code, output, ms } = await example(name, env());
    expect(code, output).toBe(0);
    expect(output).toMatch(evidence);
    expect(output).not.toMatch(/FAIL/);
    console.log(`example ${name} on ${store}: ${ms} ms`);
  });
});
