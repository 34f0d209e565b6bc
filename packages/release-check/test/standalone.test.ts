import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { providePostgres, provideRedis, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lines, namespace, RELEASE, type Result, ROOT, run, scratch, VERSION } from './helpers.js';

// The standalone executables, run as `env -i runonce-linux-<arch> …`: no PATH
// at all, so no Node could be found even if it were wanted. Commands are
// given by absolute path for the same reason. The other architecture's (arm64
// on x64 machines) runs under qemu-user, which scripts/test-services.sh
// installs with that architecture's C library.
const work = scratch('sea');
let redis: Service;
let postgres: Service;
beforeAll(async () => {
  [redis, postgres] = await Promise.all([provideRedis(), providePostgres()]);
});
afterAll(() => Promise.all([redis?.stop(), postgres?.stop()]));

const QEMU: Record<string, string> = { x64: 'qemu-x86_64-static', arm64: 'qemu-aarch64-static' };
const targets = [arch(), arch() === 'x64' ? 'arm64' : 'x64'].map((target) => ({
  target,
  exe: join(RELEASE, `runonce-linux-${target}`),
  emulator: target === arch() ? undefined : `/usr/bin/${QEMU[target]}`,
}));

describe.each(targets)('the standalone executable runonce-linux-$target', ({ target, exe, emulator }) => {
  function standalone(args: readonly string[], vars: Record<string, string> = {}): Promise<Result> {
    const assignments = Object.entries({ HOME: work, NO_COLOR: '1', ...vars }).map(([k, v]) => `${k}=${v}`);
    const program = emulator ? [emulator, exe] : [exe];
    return run('/usr/bin/env', ['-i', ...assignments, ...program, ...args], { env: {}, cwd: work });
  }

  async function runsThenSkips(vars: Record<string, string>): Promise<void> {
    const marker = join(work, `marker-${vars.RUNONCE_NAMESPACE}`);
    const command = ['--', '/bin/sh', '-c', `echo ran >> ${marker}`];
    const first = await standalone(['exec', 'db-migration', ...command], vars);
    expect(first.code, first.stderr).toBe(0);
    const second = await standalone(['exec', 'db-migration', ...command], vars);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/done on .*skipping/);
    expect(lines(marker)).toEqual(['ran']);
    const status = await standalone(['status', 'db-migration', '--json'], vars);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'done', attempts: [{ attempt: 1, state: 'done' }] });
  }

  it('is listed in SHA256SUMS with its true sum', () => {
    const sums = readFileSync(join(RELEASE, 'SHA256SUMS'), 'utf8');
    const sum = createHash('sha256').update(readFileSync(exe)).digest('hex');
    expect(sums).toContain(`${sum}  runonce-linux-${target}\n`);
    expect(statSync(exe).mode & 0o111).not.toBe(0);
  });

  it('--version, with no environment at all', async () => {
    if (emulator && !existsSync(emulator)) {
      throw new Error(`${emulator} is missing: bash scripts/test-services.sh installs it (qemu-user-static)`);
    }
    const r = await standalone(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    expect(r.stderr).toBe('');
  });

  it('file backend: exec runs, exec skips, status --json', async () => {
    await runsThenSkips({ RUNONCE_FILE_DIR: join(work, `state-${target}`), RUNONCE_NAMESPACE: namespace() });
  });

  it('redis backend: the backend and its client are inside the one file', async () => {
    await runsThenSkips({ RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_URL: redis.url, RUNONCE_NAMESPACE: namespace() });
  });

  it('postgres backend: node-postgres is inside the one file; init creates the table, exec runs and skips', async () => {
    const vars = { RUNONCE_BACKEND: 'postgres', RUNONCE_POSTGRES_URL: postgres.url, RUNONCE_NAMESPACE: namespace() };
    const init = await standalone(['init'], vars);
    expect(init.code, init.stderr).toBe(0);
    await runsThenSkips(vars);
  });

  it('a third-party backend (an ES module on disk, as docs/backends/custom.md describes) loads and runs', async () => {
    const fixture = join(ROOT, 'packages/cli/test/fixtures/custom-backend.mjs');
    const journal = join(work, `journal-${target}`);
    const config = join(work, `custom-${target}.json`);
    writeFileSync(
      config,
      JSON.stringify({ backend: fixture, backendOptions: { dir: join(work, `custom-${target}`), journal } }),
    );
    const r = await standalone(['exec', 'mig', '--', '/bin/sh', '-c', 'true'], { RUNONCE_CONFIG: config });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(journal)).toEqual(['create default/mig/initial 1']);
  });

  it('runonce SIGKILLed while its command runs: its keeper (the executable, run again) stops the command', async () => {
    const pidFile = join(work, `pid-${target}`);
    const assignments = Object.entries({ HOME: work, NO_COLOR: '1', RUNONCE_FILE_DIR: join(work, `keeper-${target}`) });
    const program = emulator ? [emulator, exe] : [exe];
    const script = `echo $$ > ${pidFile}; exec /bin/sleep 60`;
    const owner = spawn(
      '/usr/bin/env',
      ['-i', ...assignments.map(([k, v]) => `${k}=${v}`), ...program, 'exec', 'k', '--', '/bin/sh', '-c', script],
      { env: {}, cwd: work, stdio: 'ignore' },
    );
    const t0 = Date.now();
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      if (Date.now() - t0 > 30_000) throw new Error('the command did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    const commandPid = Number(readFileSync(pidFile, 'utf8'));
    owner.kill('SIGKILL');
    // The keeper sends SIGTERM as soon as runonce's end of its socket closes; `sleep` dies of it.
    const alive = () => {
      try {
        process.kill(commandPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const t1 = Date.now();
    while (alive() && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
  });

  it('a usage error is still 64 with a message, not a stack trace', async () => {
    const r = await standalone(['exec', 'bad name!', '--', '/bin/true']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^runonce: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
