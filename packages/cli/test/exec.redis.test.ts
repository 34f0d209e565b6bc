import { provideRedis, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Its own server, started here rather than in the global setup, so a missing redis-server fails this file only.
let redis: Service;
beforeAll(async () => {
  redis = await provideRedis();
});
afterAll(() => redis?.stop());

const setup = () => {
  const s = sandbox();
  return { ...s, env: { ...s.env, RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_URL: redis.url } };
};

describe('exec on the redis backend', () => {
  backendE2e(setup);

  it('an unreachable Redis → 69 within 15 s, the command not run', async () => {
    const { env } = setup();
    const r = await runonce(['exec', 'ok', '--redis-url', 'redis://127.0.0.1:1', '--', 'false'], env);
    expect(r.code, r.stderr).toBe(69);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('doctor passes against a real server and prints the ACL rule', async () => {
    const { env } = setup();
    const r = await runonce(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('all checks passed');
    expect(r.stdout).toMatch(/user runonce on .*\+hset/);
  });
});
