import { type BackendFactory, BackendFactoryId } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { RedisBackend, type RedisBackendOptions } from './backend.js';

/** Core's plugin contract: the identifier every backend package binds its factory under. */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment >
 * config file > default). `redisUrl` is `--redis-url` / `RUNONCE_REDIS_URL`;
 * `redisCluster` is `--redis-cluster` / `RUNONCE_REDIS_CLUSTER` (host:port,…: cluster mode, with the
 * URL's user, password and TLS); a config file may add a `redis` object with the other options.
 */
export interface RedisFactoryConfig {
  readonly redisUrl?: string | undefined;
  readonly redisCluster?: string | undefined;
  readonly redis?: RedisBackendOptions | undefined;
}

export const createRedisBackendFromConfig: BackendFactory<RedisFactoryConfig> = (config) =>
  new RedisBackend({
    ...config.redis,
    url: config.redisUrl ?? config.redis?.url ?? 'redis://127.0.0.1:6379',
    ...(config.redisCluster !== undefined ? { cluster: config.redisCluster } : {}),
  });

/** Binds the Redis backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const redisBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<RedisFactoryConfig>>(BackendFactoryId).toConstantValue(createRedisBackendFromConfig);
});
