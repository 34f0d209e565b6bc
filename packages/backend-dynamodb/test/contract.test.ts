import { defineContractSuite } from '@runonce/contract-tests';
import { freePort } from '@runonce/test-servers';
import { beforeAll } from 'vitest';
import { createDynamoDbBackend } from '../src/index.js';
import { emulatorOptions, emulators, tableName } from './helpers.js';

const closedPort = await freePort();

// The same contract on both emulators: they are separate code bases with separate bugs.
for (const { emulator, endpoint } of emulators) {
  const options = emulatorOptions(endpoint(), tableName(`contract-${emulator}`));
  beforeAll(async () => {
    const backend = createDynamoDbBackend(options);
    await backend.createTable();
    await backend.close();
  });
  defineContractSuite({
    name: `dynamodb (${emulator})`,
    backend: async () => createDynamoDbBackend(options),
    spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createDynamoDbBackend', options },
    unreachable: async () => createDynamoDbBackend(emulatorOptions(`http://127.0.0.1:${closedPort}`, 'runonce')),
  });
}
