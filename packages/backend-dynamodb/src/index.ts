export {
  DynamoDbBackend,
  type DynamoDbBackendDeps,
  type DynamoDbBackendOptions,
  dynamoDbClientConfig,
} from './backend.js';

export { classify, mapDynamoDbError } from './errors.js';
export { dynamoDbIamPolicy } from './iam.js';
export {
  type BackendFactory,
  BackendFactoryId,
  createDynamoDbBackendFromConfig,
  type DynamoDbFactoryConfig,
  dynamoDbBackendModule,
} from './module.js';
export { type CreateTableResult, createTable, TTL_ATTRIBUTE } from './table.js';

import { DynamoDbBackend, type DynamoDbBackendDeps, type DynamoDbBackendOptions } from './backend.js';

/** For child processes (the contract suite's spawn): options are plain JSON. */
export function createDynamoDbBackend(options: DynamoDbBackendOptions & DynamoDbBackendDeps = {}): DynamoDbBackend {
  return new DynamoDbBackend(options);
}
