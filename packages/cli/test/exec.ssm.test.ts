import { provideSsm, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_TEST_ENV, runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Its own server (moto, LocalStack or RUNONCE_TEST_SSM_ENDPOINT), so its absence fails this file only.
let ssm: Service;
beforeAll(async () => {
  ssm = await provideSsm();
}, 120_000);
afterAll(() => ssm?.stop());

const setup = () => {
  const s = sandbox();
  return {
    ...s,
    env: {
      ...s.env,
      RUNONCE_BACKEND: 'ssm',
      RUNONCE_SSM_PREFIX: `/runonce-${s.env.RUNONCE_NAMESPACE}`,
      AWS_ENDPOINT_URL_SSM: ssm.url,
      ...AWS_TEST_ENV,
    },
  };
};

describe('exec on the ssm backend', () => {
  backendE2e(setup);

  it('an unreachable endpoint → 69 within 15 s, the command not run', async () => {
    const { env } = setup();
    const r = await runonce(['exec', 'ok', '--', 'false'], { ...env, AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:1' });
    expect(r.code, r.stderr).toBe(69);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('doctor passes and prints the IAM policy for the prefix', async () => {
    const { env } = setup();
    const r = await runonce(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('ssm:PutParameter');
    expect(r.stdout).toContain(`parameter${env.RUNONCE_SSM_PREFIX}/*`);
  });
});
