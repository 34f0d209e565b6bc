import { provideRedisCluster } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Three masters of its own, so a missing redis-server fails this file only.
let cluster: Awaited<ReturnType<typeof provideRedisCluster>>;
beforeAll(async () => {
  cluster = await provideRedisCluster();
}, 60_000);
afterAll(() => cluster?.stop());

const setup = () => {
  const s = sandbox();
  return { ...s, env: { ...s.env, RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_CLUSTER: cluster.spec } };
};

describe('exec on a Redis Cluster', () => {
  backendE2e(setup);

  it('a node list that is not host:port → 64 before anything runs; doctor passes on the cluster', async () => {
    const { env } = setup();
    const bad = await runonce(['exec', 'ok', '--redis-cluster', 'redis://nope', '--', 'true'], env);
    expect(bad.code, bad.stderr).toBe(64);
    expect(bad.stderr).toContain('host:port');
    const doctor = await runonce(['doctor'], env);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toContain(`cluster ${cluster.spec}`);
  });
});
