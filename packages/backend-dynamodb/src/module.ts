import { type BackendFactory, BackendFactoryId } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { DynamoDbBackend, type DynamoDbBackendOptions } from './backend.js';

/** Core's plugin contract: the identifier every backend package binds its factory under. */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment >
 * config file > default). `table` is `--table` / `RUNONCE_DYNAMODB_TABLE`; a
 * config file may add a `dynamodb` object with the other options. Region,
 * credentials and endpoint come from the SDK's chain unless given there.
 */
export interface DynamoDbFactoryConfig {
  readonly table?: string | undefined;
  readonly dynamodb?: DynamoDbBackendOptions | undefined;
}

export const createDynamoDbBackendFromConfig: BackendFactory<DynamoDbFactoryConfig> = (config) =>
  new DynamoDbBackend({
    ...config.dynamodb,
    table: config.table ?? config.dynamodb?.table ?? 'runonce',
  });

/** Binds the DynamoDB backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const dynamoDbBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<DynamoDbFactoryConfig>>(BackendFactoryId).toConstantValue(createDynamoDbBackendFromConfig);
});
