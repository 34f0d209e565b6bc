import { defineContractSuite } from '@runonce/contract-tests';
import { freePort } from '@runonce/test-servers';
import { createSsmBackend } from '../src/index.js';
import { testOptions } from './helpers.js';

// Its own prefix, so the suite's list() calls never see the other test files' parameters.
const options = testOptions('/runonce-contract');
const closedPort = await freePort();

defineContractSuite({
  name: 'ssm',
  backend: async () => createSsmBackend(options),
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createSsmBackend', options },
  unreachable: async () => createSsmBackend({ ...options, endpoint: `http://127.0.0.1:${closedPort}` }),
});
