import type { Backend } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { DynamoDbBackend, type DynamoDbBackendOptions } from './backend.js';

/** The service identifier every backend package binds its factory under; the CLI resolves it. */
export const BackendFactoryId: symbol = Symbol.for('runonce.BackendFactory');

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

export type BackendFactory = (config: DynamoDbFactoryConfig) => Backend;

export const createDynamoDbBackendFromConfig: BackendFactory = (config) =>
  new DynamoDbBackend({
    ...config.dynamodb,
    table: config.table ?? config.dynamodb?.table ?? process.env.RUNONCE_DYNAMODB_TABLE ?? 'runonce',
  });

/** Binds the DynamoDB backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const dynamoDbBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory>(BackendFactoryId).toConstantValue(createDynamoDbBackendFromConfig);
});
