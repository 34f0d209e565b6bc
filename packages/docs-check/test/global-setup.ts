import { provideRedis } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** A Redis for the examples' second run (env, container or local redis-server); fails the run with an install hint if none. */
export default async function setup(project: TestProject) {
  const redis = await provideRedis();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
