export { PostgresBackend, type PostgresBackendOptions, postgresPoolConfig } from './backend.js';
export { mapPostgresError } from './errors.js';
export {
  type BackendFactory,
  BackendFactoryId,
  createPostgresBackendFromConfig,
  type PostgresFactoryConfig,
  postgresBackendModule,
} from './module.js';
export { grantsFor, quoteTable } from './sql.js';
export { redactUrl } from './url.js';

import { PostgresBackend, type PostgresBackendOptions } from './backend.js';

/** For child processes (the contract suite's spawn): options are plain JSON. */
export function createPostgresBackend(options: PostgresBackendOptions = {}): PostgresBackend {
  return new PostgresBackend(options);
}
