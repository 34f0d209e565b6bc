import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { defineContractSuite } from '@runonce/contract-tests';
import { awsTestClientConfig, freePort, startLocalStack } from '@runonce/test-servers';
import { afterAll } from 'vitest';
import { createS3Backend } from '../src/index.js';

// The shared suite again, on LocalStack as a host process: its S3 is LocalStack's own implementation
// (not moto), which serves concurrent requests, so the create race meets real concurrency here.
const localstack = await startLocalStack();
afterAll(() => localstack.stop());
const bucket = `runonce-ls-${Date.now().toString(36)}`;
const client = new S3Client({ ...awsTestClientConfig(localstack.url), forcePathStyle: true });
await client.send(new CreateBucketCommand({ Bucket: bucket }));
client.destroy();
process.stderr.write(`s3: ${localstack.label} at ${localstack.url}, bucket ${bucket}\n`);

const options = { ...awsTestClientConfig(localstack.url), forcePathStyle: true, bucket, prefix: 'runonce-contract-ls' };
const closedPort = await freePort();

defineContractSuite({
  name: `s3 (${localstack.label})`,
  backend: async () => createS3Backend(options),
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createS3Backend', options },
  unreachable: async () => createS3Backend({ ...options, endpoint: `http://127.0.0.1:${closedPort}` }),
});
