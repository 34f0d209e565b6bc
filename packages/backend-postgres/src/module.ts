import { type BackendFactory, BackendFactoryId } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { PostgresBackend, type PostgresBackendOptions } from './backend.js';

/** Core's plugin contract: the identifier every backend package binds its factory under. */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment > config file > default).
 * `postgresUrl` is `--postgres-url` / `RUNONCE_POSTGRES_URL` (or `DATABASE_URL`), `postgresTable`
 * is `--postgres-table`; a config file may add a `postgres` object with the other options.
 */
export interface PostgresFactoryConfig {
  readonly postgresUrl?: string | undefined;
  readonly postgresTable?: string | undefined;
  readonly postgres?: PostgresBackendOptions | undefined;
}

export const createPostgresBackendFromConfig: BackendFactory<PostgresFactoryConfig> = (config) =>
  new PostgresBackend({
    ...config.postgres,
    url: config.postgresUrl ?? config.postgres?.url,
    table: config.postgresTable ?? config.postgres?.table,
  });

/** Binds the PostgreSQL backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const postgresBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<PostgresFactoryConfig>>(BackendFactoryId).toConstantValue(createPostgresBackendFromConfig);
});
