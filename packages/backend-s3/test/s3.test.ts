import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, RunOnceError } from '@runonce/core';
import { afterAll, describe, expect, it } from 'vitest';
import { classify, S3Backend, s3IamPolicy } from '../src/index.js';
import { testOptions } from './helpers.js';

const options = testOptions('runonce-s3-test');
const ns = () => `n${Math.random().toString(36).slice(2, 10)}`;
const open: S3Backend[] = [];
const backend = (over: Partial<ConstructorParameters<typeof S3Backend>[0]> = {}) => {
  const b = new S3Backend({ ...options, ...over });
  open.push(b);
  return b;
};
afterAll(() => Promise.all(open.map((b) => b.close())));

describe('s3: init, the bucket and its conditional writes', () => {
  it('init checks the bucket and that a second If-None-Match put is refused; it leaves nothing behind', async () => {
    const b = backend();
    expect(await b.init()).toMatch(/answers and honours conditional writes/);
    expect(await b.list([])).toEqual([]);
  });

  it('a missing bucket → E_MISSING_TABLE, saying to create it', async () => {
    const err = await backend({ bucket: 'runonce-no-such-bucket' })
      .init()
      .catch((e) => e);
    expect(err.code).toBe(ErrorCode.missingTable);
    expect(err.message).toContain('aws s3 mb s3://runonce-no-such-bucket');
    const read = await backend({ bucket: 'runonce-no-such-bucket' })
      .read(['a', 'b', 'c'])
      .catch((e) => e);
    expect(read.code).toBe(ErrorCode.missingTable);
  });

  it('init refuses a store that ignores If-None-Match (a proxy strips the header in front of the real server)', async () => {
    const target = new URL(options.endpoint);
    const proxy = createServer((req, res) => {
      const { 'if-none-match': _, ...headers } = req.headers;
      const up = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const b = backend({ endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const err = await b.init().catch((e) => e);
      expect(RunOnceError.is(err), String(err)).toBe(true);
      expect(err.message).toMatch(/does not do conditional writes/);
      // and against the real server directly, the same init passes
      expect(await backend().init()).toMatch(/honours conditional writes/);
    } finally {
      proxy.close();
    }
  });
});

describe('s3: failures', () => {
  it('a create whose response is lost after S3 applied it still wins (its token is in the object), once', async () => {
    const b = backend();
    let lost = 0;
    b.client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'PutObjectCommand' && lost++ === 0)
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return out;
      },
      { step: 'deserialize', name: 'loseFirstPutResponse' },
    );
    const key = [ns(), 'task', 'scope'];
    expect(await b.create(key, 1, { a: 1 })).toEqual({ won: true, version: 1 });
    expect(lost).toBe(2); // the first put (applied, answer lost) and its retry (412)
    expect((await backend().create(key, 1, { a: 2 })).won).toBe(false);
    expect((await b.read(key)).map((s) => s.value)).toEqual([{ a: 1 }]);
  });

  it('classifies S3 answers: SlowDown and 409 are sent again, 412 is an answer, a reset may have been applied', () => {
    const e = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    expect(classify(e('SlowDown', 503))).toBe('throttled');
    expect(classify(e('ConditionalRequestConflict', 409))).toBe('throttled');
    expect(classify(e('PreconditionFailed', 412))).toBe('final');
    expect(classify(e('NoSuchKey', 404))).toBe('final');
    expect(classify(e('InternalError', 500))).toBe('maybeApplied');
    expect(classify(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe('maybeApplied');
    expect(classify(e('AccessDenied', 403))).toBe('final');
  });

  it('the IAM policy is scoped to the prefix: objects under it, and listing only below it', () => {
    const p = s3IamPolicy('my-bucket', 'deploys/runonce');
    expect(p.Statement[0]?.Resource).toEqual(['arn:aws:s3:::my-bucket/deploys/runonce/*']);
    expect(p.Statement[1]?.Condition).toEqual({ StringLike: { 's3:prefix': ['deploys/runonce/*'] } });
    expect(backend({ prefix: 'deploys/runonce' }).describePermissions()).toContain('"s3:PutObject"');
  });

  it('refuses a bad bucket or prefix before any call', () => {
    expect(() => new S3Backend({ ...options, bucket: 'Bad_Bucket' })).toThrow(/S3 bucket must be/);
    expect(() => new S3Backend({ ...options, prefix: 'a//b' })).toThrow(/S3 prefix must be/);
    expect(new S3Backend({ ...options, prefix: '/a/b/' }).prefix).toBe('a/b');
  });
});
