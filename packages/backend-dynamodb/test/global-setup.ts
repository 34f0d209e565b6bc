import { provideDynalite, provideMotoDynamoDb } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    dynaliteEndpoint: string;
    motoDynamoDbEndpoint: string;
  }
}

/**
 * Both emulators for the whole run: every DynamoDB test runs against each,
 * since they differ (dynalite has no TTL API; moto is a different code base).
 * Fails the run with an install hint when either is missing.
 */
export default async function setup(project: TestProject) {
  const [dynalite, moto] = await Promise.all([provideDynalite(), provideMotoDynamoDb()]);
  process.stderr.write(
    `dynamodb for tests: dynalite ${dynalite.url} (${dynalite.source}), moto ${moto.url} (${moto.source})\n`,
  );
  project.provide('dynaliteEndpoint', dynalite.url);
  project.provide('motoDynamoDbEndpoint', moto.url);
  return async () => {
    await Promise.all([dynalite.stop(), moto.stop()]);
  };
}
