import { type BackendFactory, BackendFactoryId } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { RedisBackend, type RedisBackendOptions } from './backend.js';

/** Core's plugin contract: the identifier every backend package binds its factory under. */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment >
 * config file > default). `redisUrl` is `--redis-url` / `RUNONCE_REDIS_URL`;
 * a config file may add a `redis` object with the other options.
 */
export interface RedisFactoryConfig {
  readonly redisUrl?: string | undefined;
  readonly redis?: RedisBackendOptions | undefined;
}

export const createRedisBackendFromConfig: BackendFactory<RedisFactoryConfig> = (config) =>
  new RedisBackend({
    ...config.redis,
    url: config.redisUrl ?? config.redis?.url ?? 'redis://127.0.0.1:6379',
  });

/** Binds the Redis backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const redisBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<RedisFactoryConfig>>(BackendFactoryId).toConstantValue(createRedisBackendFromConfig);
});
