import { providePostgres, provideRedis } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    postgresUrl: string;
  }
}

/**
 * A Redis for the examples' second run and a PostgreSQL for the Django example's own-database variant
 * (env, container or local servers); fails the run with an install hint if either is missing.
 */
export default async function setup(project: TestProject) {
  const [redis, postgres] = await Promise.all([provideRedis(), providePostgres()]);
  project.provide('redisUrl', redis.url);
  project.provide('postgresUrl', postgres.url);
  return async () => {
    await Promise.all([redis.stop(), postgres.stop()]);
  };
}
