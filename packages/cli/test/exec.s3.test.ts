import { createEmulatorBucket, provideS3, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_TEST_ENV, runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Its own server (moto serving one request at a time, or RUNONCE_TEST_S3_ENDPOINT), so its absence fails this file only.
let s3: Service;
const bucket = `runonce-cli-${Date.now().toString(36)}`;
beforeAll(async () => {
  s3 = await provideS3();
  await createEmulatorBucket(s3.url, bucket);
}, 120_000);
afterAll(() => s3?.stop());

const setup = () => {
  const s = sandbox();
  return {
    ...s,
    env: {
      ...s.env,
      RUNONCE_BACKEND: 's3',
      RUNONCE_S3_BUCKET: bucket,
      RUNONCE_S3_PREFIX: `runonce-${s.env.RUNONCE_NAMESPACE}`,
      AWS_ENDPOINT_URL_S3: s3.url,
      ...AWS_TEST_ENV,
    },
  };
};

describe('exec on the s3 backend', () => {
  backendE2e(setup);

  it('no bucket given → 78 naming --s3-bucket, nothing run', async () => {
    const { env } = setup();
    const { RUNONCE_S3_BUCKET: _, ...rest } = env;
    const r = await runonce(['exec', 'ok', '--', 'false'], rest);
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toContain('--s3-bucket');
  });

  it('an unreachable endpoint → 69 within 15 s, the command not run', async () => {
    const { env } = setup();
    const r = await runonce(['exec', 'ok', '--', 'false'], { ...env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' });
    expect(r.code, r.stderr).toBe(69);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('init checks the bucket; a missing bucket is 69 naming it', async () => {
    const { env } = setup();
    const ok = await runonce(['init'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('honours conditional writes');
    const missing = await runonce(['init', '--s3-bucket', 'runonce-missing-bucket'], env);
    expect(missing.code).toBe(69);
    expect(missing.stderr).toContain('aws s3 mb s3://runonce-missing-bucket');
  });

  it('doctor passes and prints the IAM policy scoped to the prefix', async () => {
    const { env } = setup();
    const r = await runonce(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('s3:PutObject');
    expect(r.stdout).toContain(`arn:aws:s3:::${bucket}/${env.RUNONCE_S3_PREFIX}/*`);
  });
});
