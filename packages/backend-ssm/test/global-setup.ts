import { provideSsm } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    ssmEndpoint: string;
  }
}

/** One SSM endpoint for the run (env, LocalStack container or local moto_server); fails with an install hint if none. */
export default async function setup(project: TestProject) {
  const ssm = await provideSsm();
  process.stderr.write(`ssm: ${ssm.label ?? ssm.source} at ${ssm.url}\n`);
  project.provide('ssmEndpoint', ssm.url);
  return () => ssm.stop();
}
