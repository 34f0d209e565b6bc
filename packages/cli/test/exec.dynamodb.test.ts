import { provideDynalite, provideMotoDynamoDb, type Service } from '@runonce/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_TEST_ENV, runonce, sandbox } from './helpers.js';
import { backendE2e } from './suite.js';

// Their own servers (dynalite, and moto/LocalStack), so their absence fails this file only.
const emulators: Array<[string, () => Promise<Service>]> = [
  ['dynalite', provideDynalite],
  ['moto', provideMotoDynamoDb],
];

for (const [emulator, provide] of emulators) {
  describe(`exec on the dynamodb backend (${emulator})`, () => {
    let dynamo: Service;
    const table = `runonce-cli-${Date.now().toString(36)}`;
    const awsEnv = () => ({
      RUNONCE_BACKEND: 'dynamodb',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      ...AWS_TEST_ENV,
    });

    beforeAll(async () => {
      dynamo = await provide();
      const r = await runonce(['init', '--table', table], awsEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/created DynamoDB table/);
    }, 120_000);
    afterAll(() => dynamo?.stop());

    backendE2e(() => {
      const s = sandbox();
      return { ...s, env: { ...s.env, ...awsEnv(), RUNONCE_DYNAMODB_TABLE: table } };
    });

    it('init is idempotent and says so', async () => {
      const r = await runonce(['init', '--table', table], awsEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/exists/);
    });

    it('a missing table → 69', async () => {
      const s = sandbox();
      const r = await runonce(['exec', 'ok', '--table', 'no-such-table', '--', 'false'], { ...s.env, ...awsEnv() });
      expect(r.code, r.stderr).toBe(69);
    });

    it('an unreachable endpoint → 69 within 15 s', async () => {
      const s = sandbox();
      const r = await runonce(['exec', 'ok', '--', 'false'], {
        ...s.env,
        ...awsEnv(),
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
      });
      expect(r.code, r.stderr).toBe(69);
      expect(r.ms).toBeLessThan(15_000);
    });

    it('doctor passes and prints the IAM policy for the table', async () => {
      const s = sandbox();
      const r = await runonce(['doctor', '--table', table], { ...s.env, ...awsEnv() });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`table/${table}`);
      expect(r.stdout).toContain('dynamodb:PutItem');
    });
  });
}
