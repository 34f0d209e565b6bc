import { defineContractSuite } from '@runonce/contract-tests';
import { freePort } from '@runonce/test-servers';
import { createS3Backend } from '../src/index.js';
import { testOptions } from './helpers.js';

// Its own prefix, so the suite's list() calls never see the other test file's objects.
const options = testOptions('runonce-contract');
const closedPort = await freePort();

defineContractSuite({
  name: 's3 (moto, one request at a time)',
  backend: async () => createS3Backend(options),
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createS3Backend', options },
  unreachable: async () => createS3Backend({ ...options, endpoint: `http://127.0.0.1:${closedPort}` }),
});
