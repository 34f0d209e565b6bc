import { providePgBouncer, providePostgres, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Its own servers, started here rather than in the global setup, so a missing PostgreSQL fails this file only.
let postgres: Service;
let bouncer: Service;
beforeAll(async () => {
  postgres = await providePostgres();
  bouncer = await providePgBouncer(postgres.url);
  const init = await runonce(['init', '--backend', 'postgres', '--postgres-url', postgres.url], {});
  if (init.code !== 0) throw new Error(`runonce init failed: ${init.stderr}`);
}, 60_000);
afterAll(async () => {
  await bouncer?.stop();
  await postgres?.stop();
});

const setup = (url: () => string) => () => {
  const s = sandbox();
  return { ...s, env: { ...s.env, RUNONCE_BACKEND: 'postgres', RUNONCE_POSTGRES_URL: url() } };
};

describe('exec on the postgres backend', () => {
  backendE2e(setup(() => postgres.url));

  it('DATABASE_URL is the fallback for --postgres-url; RUNONCE_POSTGRES_URL wins over it', async () => {
    const { env } = setup(() => postgres.url)();
    const { RUNONCE_POSTGRES_URL: _, ...rest } = env;
    const viaDatabaseUrl = await runonce(['exec', 'dburl', '--', 'true'], { ...rest, DATABASE_URL: postgres.url });
    expect(viaDatabaseUrl.code, viaDatabaseUrl.stderr).toBe(0);
    const wins = await runonce(['status', 'dburl', '--json'], {
      ...env,
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(wins.code, wins.stderr).toBe(0);
    expect(JSON.parse(wins.stdout)).toMatchObject({ state: 'done' });
  });

  it('an unreachable server → 69 within 15 s, the command not run', async () => {
    const { env } = setup(() => postgres.url)();
    const r = await runonce(
      ['exec', 'ok', '--postgres-url', 'postgres://postgres@127.0.0.1:1/postgres', '--', 'false'],
      env,
    );
    expect(r.code, r.stderr).toBe(69);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('a missing table → 69, naming `runonce init`; init creates it and the task runs', async () => {
    const { env } = setup(() => postgres.url)();
    const table = `t_${Math.random().toString(36).slice(2, 8)}`;
    const missing = await runonce(['exec', 'm', '--postgres-table', table, '--', 'true'], env);
    expect(missing.code).toBe(69);
    expect(missing.stderr).toContain('runonce init');
    expect((await runonce(['init', '--postgres-table', table], env)).code).toBe(0);
    expect((await runonce(['exec', 'm', '--postgres-table', table, '--', 'true'], env)).code).toBe(0);
  });

  it('doctor passes against a real server and prints the grants', async () => {
    const { env } = setup(() => postgres.url)();
    const r = await runonce(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('all checks passed');
    expect(r.stdout).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON "runonce"');
  });
});

describe('exec on the postgres backend through PgBouncer (transaction pooling)', () => {
  backendE2e(setup(() => bouncer.url));
});
