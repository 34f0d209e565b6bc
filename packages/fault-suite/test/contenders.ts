/**
 * One process of the load test: `count` contenders (each its own RunOnce, as
 * separate instances would be) race for one task on a shared backend. Prints
 * one JSON line: each contender's outcome, the backend calls the engine made
 * and the HTTP requests sent (SSM, DynamoDB), throttled ones included.
 *
 *   node contenders.ts '<json config>'
 */
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createDynamoDbBackend } from '@runonce/backend-dynamodb';
import { createPostgresBackend } from '@runonce/backend-postgres';
import { createRedisBackend } from '@runonce/backend-redis';
import { createS3Backend } from '@runonce/backend-s3';
import { createSsmBackend } from '@runonce/backend-ssm';
import { type Backend, createFileBackend, RunOnce, RunOnceError } from '@runonce/core';
import { FaultyBackend } from '@runonce/core/testing';
// a type only: erased when node runs this file, so the harness (and vitest) is never loaded here
import type { BackendName } from './harness.ts';

interface Config {
  backend: BackendName;
  bucket?: string;
  endpoint: string;
  table?: string;
  prefix?: string;
  namespace: string;
  count: number;
  lease: string;
  taskMs: number;
  marker: string;
  /** Throttle this many of every 10 requests (SSM, DynamoDB), before they are sent. */
  throttlePerTen: number;
  waitTimeout: string;
}

const c: Config = JSON.parse(process.argv[2] ?? '{}');
const creds = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const http = { requests: 0, throttled: 0 };

function open(): Backend {
  if (c.backend === 'file') return createFileBackend({ dir: c.endpoint });
  if (c.backend === 'redis') return createRedisBackend({ url: c.endpoint });
  if (c.backend === 'redis-cluster') return createRedisBackend({ cluster: c.endpoint });
  if (c.backend === 'postgres' || c.backend === 'pgbouncer') return createPostgresBackend({ url: c.endpoint });
  const b =
    c.backend === 'ssm' || c.backend === 'ssm-localstack'
      ? createSsmBackend({ ...creds, endpoint: c.endpoint, prefix: c.prefix, requestTimeoutMs: 30_000 })
      : c.backend === 's3' || c.backend === 's3-localstack'
        ? createS3Backend({
            ...creds,
            endpoint: c.endpoint,
            bucket: c.bucket as string,
            prefix: c.prefix,
            requestTimeoutMs: 30_000,
          })
        : createDynamoDbBackend({ ...creds, endpoint: c.endpoint, table: c.table as string, requestTimeoutMs: 30_000 });
  // biome-ignore lint/suspicious/noExplicitAny: the three SDK clients share the middleware stack's shape
  const stack = (b.client as any).middlewareStack;
  stack.add(
    // biome-ignore lint/suspicious/noExplicitAny: SDK middleware signature
    (next: any) => async (args: any) => {
      if (http.requests++ % 10 < c.throttlePerTen) {
        http.throttled++;
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'faultSuiteThrottling' },
  );
  return b;
}

const backend = new FaultyBackend(open());
const outcomes = await Promise.all(
  Array.from({ length: c.count }, async (_, i) => {
    const r = new RunOnce({ backend, namespace: c.namespace, owner: `${hostname()}:${process.pid}:${i}` });
    try {
      const o = await r.run(
        'load',
        async ({ attempt, signal }) => {
          // Like a command the CLI would kill: a lost lease stops the work before it completes.
          await new Promise<void>((res, rej) => {
            const t = setTimeout(res, c.taskMs);
            signal.addEventListener('abort', () => {
              clearTimeout(t);
              rej(signal.reason);
            });
          });
          appendFileSync(c.marker, `ran ${attempt} ${process.pid}:${i}\n`);
        },
        { lease: c.lease, waitTimeout: c.waitTimeout },
      );
      return o.ranHere ? `ran ${o.attempt}` : o.state === 'done' ? 'done' : `state ${o.state}`;
    } catch (e) {
      return RunOnceError.is(e) ? `${e.code}: ${e.message}` : `crash: ${(e as Error).stack}`;
    }
  }),
);
await backend.close();
console.log(JSON.stringify({ outcomes, calls: backend.calls, http }));
process.exit(0);
