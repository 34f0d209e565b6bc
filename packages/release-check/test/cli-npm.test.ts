import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { providePostgres, provideRedis, provideSsm, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lines, NODE_DIR, namespace, npm, type Result, run, scratch, tarball, VERSION } from './helpers.js';

// `npm i -g @runonce/cli` from its tarball alone, in a clean prefix, with npm
// alone and --offline: if the tarball needed anything from a registry (a
// sibling @runonce package, an SDK), the install would fail here.
const prefix = scratch('npm-prefix');
const work = scratch('npm-work');
const bin = join(prefix, 'bin/runonce');
let redis: Service;
let ssm: Service;
let postgres: Service;

beforeAll(async () => {
  const r = await npm(['install', '--global', '--offline', '--prefix', prefix, tarball('@runonce/cli')], work);
  expect(r.code, r.stderr).toBe(0);
  [redis, ssm, postgres] = await Promise.all([provideRedis(), provideSsm(), providePostgres()]);
});
afterAll(async () => {
  await Promise.all([redis?.stop(), ssm?.stop(), postgres?.stop()]);
});

/** The installed `runonce`, with only the Node of the tests on PATH: nothing of this repository. */
function runonce(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return run(bin, args, { env: { PATH: `${NODE_DIR}:/usr/bin:/bin`, HOME: work, NO_COLOR: '1', ...env }, cwd: work });
}

/** exec runs the command, a second exec skips it, status --json says done: on whichever backend `env` selects. */
async function runsThenSkips(env: NodeJS.ProcessEnv): Promise<void> {
  const marker = join(work, `marker-${env.RUNONCE_NAMESPACE}`);
  const first = await runonce(['exec', 'db-migration', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
  expect(first.code, first.stderr).toBe(0);
  const second = await runonce(['exec', 'db-migration', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toMatch(/done on .*skipping/);
  expect(lines(marker)).toEqual(['ran']);
  const status = await runonce(['status', 'db-migration', '--json'], env);
  expect(status.code, status.stderr).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({
    task: 'db-migration',
    state: 'done',
    attempts: [{ attempt: 1, state: 'done', exitCode: 0 }],
  });
}

describe('npm i -g @runonce/cli, the tarball alone', () => {
  it('installs with no dependency at all: everything it runs is in its own bundle', () => {
    const pkgDir = join(prefix, 'lib/node_modules/@runonce/cli');
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(existsSync(join(pkgDir, 'node_modules'))).toBe(false);
    expect(existsSync(join(pkgDir, 'LICENSE'))).toBe(true);
    expect(existsSync(join(pkgDir, 'README.md'))).toBe(true);
  });

  it('runonce --version', async () => {
    const r = await runonce(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('file backend: exec runs, exec skips, status --json', async () => {
    await runsThenSkips({ RUNONCE_FILE_DIR: join(work, 'state'), RUNONCE_NAMESPACE: namespace() });
  });

  it('redis backend (a real redis-server): exec runs, exec skips, status --json', async () => {
    await runsThenSkips({ RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_URL: redis.url, RUNONCE_NAMESPACE: namespace() });
  });

  it('postgres backend (a real server, DATABASE_URL as a Django app has it): init, exec runs, exec skips', async () => {
    const env = { RUNONCE_BACKEND: 'postgres', DATABASE_URL: postgres.url, RUNONCE_NAMESPACE: namespace() };
    const init = await runonce(['init'], env);
    expect(init.code, init.stderr).toBe(0);
    await runsThenSkips(env);
  });

  it('ssm backend (moto): exec runs, exec skips, status --json, and no SDK warning in the output', async () => {
    const env = {
      RUNONCE_BACKEND: 'ssm',
      RUNONCE_NAMESPACE: namespace(),
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    await runsThenSkips(env);
    const r = await runonce(['exec', 'db-migration', '--', 'true'], env);
    expect(r.stderr).not.toMatch(/Warning/);
  });
});

describe('on a Node older than the CLI supports', () => {
  it('one line says which Node it needs and how to get it; exit 69; nothing claimed or run', async () => {
    const old = await oldNode();
    const state = join(work, 'old-node-state');
    const marker = join(work, 'old-node-marker');
    // Through the bin's own `#!/usr/bin/env node`, as a hook would start it.
    const r = await run(bin, ['exec', 'db-migration', '--', 'sh', '-c', `echo ran >> ${marker}`], {
      env: { PATH: `${old.dir}:/usr/bin:/bin`, HOME: work, RUNONCE_FILE_DIR: state },
      cwd: work,
    });
    expect(r.code).toBe(69);
    expect(r.stdout).toBe('');
    const said = r.stderr.split('\n').filter(Boolean);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`needs Node.js 22.12 or later, this is ${old.version}`);
    expect(said[0]).toMatch(/install Node\.js 24 .*standalone executable/);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(state)).toBe(false);
  });
});

/**
 * A Node older than 22.12: RUNONCE_TEST_OLD_NODE, else the system's
 * /usr/bin/node where it is that old (Debian 12's machines here have 20).
 * .ci/run installs node@20 when the machine has no old Node.
 */
async function oldNode(): Promise<{ dir: string; version: string }> {
  const path = process.env.RUNONCE_TEST_OLD_NODE ?? '/usr/bin/node';
  const hint = 'set RUNONCE_TEST_OLD_NODE to a Node older than 22.12 (npm i -g --prefix ~/.local/node20 node@20)';
  if (!existsSync(path)) throw new Error(`no old Node at ${path}: ${hint}`);
  const version = (await run(path, ['-p', 'process.version'], { env: {} })).stdout.trim();
  const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12))
    throw new Error(`${path} is ${version}, not older than 22.12: ${hint}`);
  return { dir: join(path, '..'), version };
}
