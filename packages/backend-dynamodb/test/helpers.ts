import { randomBytes } from 'node:crypto';
import { awsTestClientConfig } from '@runonce/test-servers';
import { inject } from 'vitest';
import { DynamoDbBackend, type DynamoDbBackendOptions } from '../src/index.js';

export const emulators = [
  { emulator: 'dynalite', endpoint: () => inject('dynaliteEndpoint') },
  { emulator: 'moto', endpoint: () => inject('motoDynamoDbEndpoint') },
] as const;

/** Plain-JSON options for a backend on an emulator (child processes get the same). */
export function emulatorOptions(endpoint: string, table: string, extra: DynamoDbBackendOptions = {}) {
  return { ...awsTestClientConfig(endpoint), table, ...extra };
}

export const tableName = (label: string) => `runonce-${label}-${randomBytes(4).toString('hex')}`;

/** A backend on a fresh table that `runonce init` (createTable) made. */
export async function backendWithTable(endpoint: string, extra: DynamoDbBackendOptions = {}): Promise<DynamoDbBackend> {
  const backend = new DynamoDbBackend(emulatorOptions(endpoint, tableName('t'), extra));
  await backend.createTable();
  return backend;
}
