import { providePgBouncer, providePostgres } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    pgbouncerUrl: string;
  }
}

/**
 * One PostgreSQL and one PgBouncer (transaction pooling) in front of it for the whole run; fails the run
 * with an install hint if either is missing (the backend's tests are never skipped).
 */
export default async function setup(project: TestProject) {
  const postgres = await providePostgres();
  const bouncer = await providePgBouncer(postgres.url).catch(async (e) => {
    await postgres.stop();
    throw e;
  });
  process.stderr.write(
    `postgres for tests: ${postgres.url} (${postgres.source}${postgres.version ? ` ${postgres.version}` : ''}); ` +
      `pgbouncer (pool_mode=transaction): ${bouncer.url} (${bouncer.source})\n`,
  );
  project.provide('postgresUrl', postgres.url);
  project.provide('pgbouncerUrl', bouncer.url);
  return async () => {
    await bouncer.stop();
    await postgres.stop();
  };
}
