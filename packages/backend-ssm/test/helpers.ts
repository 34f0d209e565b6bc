import { randomBytes } from 'node:crypto';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsTestClientConfig } from '@runonce/test-servers';
import { inject } from 'vitest';
import { SsmBackend, type SsmBackendOptions } from '../src/index.js';

export const endpoint = (): string => inject('ssmEndpoint');

/** JSON options for a backend on the test endpoint (what a child process gets too). */
export function testOptions(prefix = '/runonce-test') {
  // moto on a small, busy CI machine can take seconds to answer: a patient timeout
  // (the timeout tests set their own)
  return { ...awsTestClientConfig(endpoint()), prefix, requestTimeoutMs: 30_000 };
}

/** A raw client on the test endpoint, for looking behind the backend's back. */
export function rawClient(config: { maxAttempts?: number } = {}): SSMClient {
  return new SSMClient({ ...awsTestClientConfig(endpoint()), ...config });
}

export function backend(options: Partial<SsmBackendOptions> = {}): SsmBackend {
  return new SsmBackend({ ...testOptions(), ...options });
}

/** A fresh namespace per test: no test sees another's parameters. */
export function ns(): string {
  return `t-${randomBytes(5).toString('hex')}`;
}
