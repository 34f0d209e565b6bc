import { awsTestClientConfig } from '@runonce/test-servers';
import { inject } from 'vitest';

/** Plain-JSON options for the test server (a child process in a race gets the same). */
export function testOptions(prefix: string) {
  return {
    ...awsTestClientConfig(inject('s3Endpoint')),
    forcePathStyle: true,
    bucket: inject('s3Bucket'),
    prefix,
  };
}
