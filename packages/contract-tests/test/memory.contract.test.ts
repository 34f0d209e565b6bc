import { BackendUnavailableError, MemoryBackend } from '@runonce/core';
import { FaultyBackend } from '@runonce/core/testing';
import { defineContractSuite } from '../dist/index.js';

defineContractSuite({
  name: 'memory',
  backend: async () => new MemoryBackend(),
  createNext: true,
  // memory has no server to lose; stand in for one that is down so the error assertions still run
  unreachable: async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    backend.fault = () => {
      throw new BackendUnavailableError('memory: simulated outage');
    };
    return backend;
  },
});
