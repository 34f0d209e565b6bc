import { defineContractSuite } from '@runonce/contract-tests';
import { freePort } from '@runonce/test-servers';
import { inject } from 'vitest';
import { createRedisBackend } from '../src/index.js';

const url = inject('redisUrl');
// Its own prefix, so the suite's list() calls never see the other test file's keys.
const options = { url, keyPrefix: 'runonce-contract' };
const closedPort = await freePort();

defineContractSuite({
  name: 'redis',
  backend: async () => createRedisBackend(options),
  createNext: true,
  watch: true,
  watchBySlot: true,
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createRedisBackend', options },
  unreachable: async () => createRedisBackend({ url: `redis://127.0.0.1:${closedPort}` }),
});
