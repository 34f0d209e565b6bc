import type { ChildProcess } from 'node:child_process';
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

/** Lines a child prints, as a queue the test can await. */
export function lines(proc: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return () => {
    const line = queue.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((r) => waiting.push(r));
  };
}

/**
 * Throttle 3 calls in every 10 across every client given the same counter (30 %,
 * the same on every run), rejected before they are sent, as SSM rejects a
 * throttled request before running it. After the SDK's retry step: the SDK
 * retries some, the backend's own backoff the rest.
 */
export function injectThrottling(client: SSMClient, counter: { calls: number; injected: number }): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      if (counter.calls++ % 10 < 3) {
        counter.injected++;
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'injectThrottling' },
  );
}
