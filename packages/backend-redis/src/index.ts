export { REDIS_COMMANDS, redisAcl } from './acl.js';
export {
  parseClusterNodes,
  RedisBackend,
  type RedisBackendOptions,
  redisClientOptions,
  redisClusterOptions,
} from './backend.js';
export { mapRedisError } from './errors.js';
export {
  type BackendFactory,
  BackendFactoryId,
  createRedisBackendFromConfig,
  type RedisFactoryConfig,
  redisBackendModule,
} from './module.js';
export { parseRedisUrl, type RedisConnection, redact } from './url.js';

import { RedisBackend, type RedisBackendOptions } from './backend.js';

/** For child processes (the contract suite's spawn): options are plain JSON. */
export function createRedisBackend(options: RedisBackendOptions = {}): RedisBackend {
  return new RedisBackend(options);
}
