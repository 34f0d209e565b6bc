import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { awsTestClientConfig, provideS3 } from '@runonce/test-servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    s3Bucket: string;
  }
}

/** One S3 endpoint for the run (env, container, or moto serving one request at a time) and a bucket on it. */
export default async function setup(project: TestProject) {
  const s3 = await provideS3();
  const bucket = `runonce-test-${Date.now().toString(36)}`;
  const client = new S3Client({ ...awsTestClientConfig(s3.url), forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  process.stderr.write(`s3: ${s3.label ?? s3.source} at ${s3.url}, bucket ${bucket}\n`);
  project.provide('s3Endpoint', s3.url);
  project.provide('s3Bucket', bucket);
  return () => s3.stop();
}
