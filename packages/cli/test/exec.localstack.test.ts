import { createEmulatorBucket, type Service, startLocalStack } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_TEST_ENV, runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// The SSM and S3 end-to-end cases again, on one LocalStack host process serving both (SPEC: its SSM
// is moto inside; its S3 is its own). Its own server, so a missing LocalStack fails this file only.
let localstack: Service;
const bucket = `runonce-cli-ls-${Date.now().toString(36)}`;
beforeAll(async () => {
  localstack = await startLocalStack();
  process.stderr.write(`ssm, s3: ${localstack.label} at ${localstack.url}\n`);
  await createEmulatorBucket(localstack.url, bucket);
}, 180_000);
afterAll(() => localstack?.stop());

describe('exec on the ssm backend, on LocalStack', () => {
  const setup = () => {
    const s = sandbox();
    const env = { ...s.env, ...AWS_TEST_ENV, RUNONCE_BACKEND: 'ssm', AWS_ENDPOINT_URL_SSM: localstack.url };
    return { ...s, env: { ...env, RUNONCE_SSM_PREFIX: `/runonce-${s.env.RUNONCE_NAMESPACE}` } };
  };
  backendE2e(setup);

  it('doctor passes on LocalStack and prints the IAM policy', async () => {
    const r = await runonce(['doctor'], setup().env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('ssm:PutParameter');
  });
});

describe('exec on the s3 backend, on LocalStack', () => {
  const setup = () => {
    const s = sandbox();
    const env = {
      ...s.env,
      ...AWS_TEST_ENV,
      RUNONCE_BACKEND: 's3',
      RUNONCE_S3_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: localstack.url,
    };
    return { ...s, env: { ...env, RUNONCE_S3_PREFIX: `runonce-${s.env.RUNONCE_NAMESPACE}` } };
  };
  backendE2e(setup);

  it('init finds that LocalStack honours conditional writes', async () => {
    const r = await runonce(['init'], setup().env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('honours conditional writes');
  });
});
