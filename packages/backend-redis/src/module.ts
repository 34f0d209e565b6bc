import type { Backend } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { RedisBackend, type RedisBackendOptions } from './backend.js';

/** The service identifier every backend package binds its factory under; the CLI resolves it. */
export const BackendFactoryId: symbol = Symbol.for('runonce.BackendFactory');

/**
 * What the CLI hands the factory: its resolved options (flag > environment >
 * config file > default). `redisUrl` is `--redis-url` / `RUNONCE_REDIS_URL`;
 * a config file may add a `redis` object with the other options.
 */
export interface RedisFactoryConfig {
  readonly redisUrl?: string | undefined;
  readonly redis?: RedisBackendOptions | undefined;
}

export type BackendFactory = (config: RedisFactoryConfig) => Backend;

export const createRedisBackendFromConfig: BackendFactory = (config) =>
  new RedisBackend({
    ...config.redis,
    url: config.redisUrl ?? config.redis?.url ?? process.env.RUNONCE_REDIS_URL ?? 'redis://127.0.0.1:6379',
  });

/** Binds the Redis backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const redisBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory>(BackendFactoryId).toConstantValue(createRedisBackendFromConfig);
});
