import { MemoryBackend } from '@runonce/core';
import { defineContractSuite } from '../dist/index.js';

defineContractSuite({
  name: 'memory',
  backend: async () => new MemoryBackend(),
  createNext: true,
  // No `unreachable`: memory has no server to lose. A stub told to throw would only test the stub.
});
