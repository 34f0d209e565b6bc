import { defineContractSuite } from '@runonce/contract-tests';
import { awsTestClientConfig, freePort, startLocalStack } from '@runonce/test-servers';
import { afterAll } from 'vitest';
import { createSsmBackend } from '../src/index.js';

// The shared suite again, on LocalStack as a host process (its SSM is moto inside, with no lock: the
// backend's history check is what keeps one winner there too). Its own server, for this file only.
const localstack = await startLocalStack();
afterAll(() => localstack.stop());
process.stderr.write(`ssm: ${localstack.label} at ${localstack.url}\n`);

const options = { ...awsTestClientConfig(localstack.url), prefix: '/runonce-contract-ls', requestTimeoutMs: 30_000 };
const closedPort = await freePort();

defineContractSuite({
  name: `ssm (${localstack.label})`,
  backend: async () => createSsmBackend(options),
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createSsmBackend', options },
  unreachable: async () => createSsmBackend({ ...options, endpoint: `http://127.0.0.1:${closedPort}` }),
});
