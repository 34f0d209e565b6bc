import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RunOnceError } from '@runonce/core';
import { freePort, LocalRedis } from '@runonce/test-servers';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseRedisUrl, RedisBackend, redact, redisAcl, redisClientOptions } from '../src/index.js';

const url = inject('redisUrl');
const opened: RedisBackend[] = [];
const backend = (options: ConstructorParameters<typeof RedisBackend>[0] = {}) => {
  const b = new RedisBackend({ url, ...options });
  opened.push(b);
  return b;
};
const ns = () => `ns-${randomUUID().slice(0, 8)}`;

afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<RunOnceError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(RunOnceError.is(error), `expected a RunOnceError, got ${String(error)}`).toBe(true);
  expect((error as RunOnceError).code).toBe(code);
  return error as RunOnceError;
}

describe('URL parsing', () => {
  it('reads TLS, user, percent-encoded password and database from a rediss:// URL', () => {
    expect(parseRedisUrl('rediss://worker:p%40ss%3Aw0rd@cache.example.com:6380/2')).toEqual({
      host: 'cache.example.com',
      port: 6380,
      username: 'worker',
      password: 'p@ss:w0rd',
      db: 2,
      tls: true,
    });
  });

  it('defaults port 6379, db 0, no TLS, no credentials; takes a bare password as requirepass AUTH', () => {
    expect(parseRedisUrl('redis://localhost')).toEqual({
      host: 'localhost',
      port: 6379,
      username: undefined,
      password: undefined,
      db: 0,
      tls: false,
    });
    expect(parseRedisUrl('redis://:secret@[::1]:7000')).toMatchObject({ host: '::1', port: 7000, password: 'secret' });
  });

  it('turns the URL into ioredis options: TLS with SNI for names, none for addresses', () => {
    expect(redisClientOptions({ url: 'rediss://u:p@cache.example.com' })).toMatchObject({
      host: 'cache.example.com',
      username: 'u',
      password: 'p',
      tls: { servername: 'cache.example.com' },
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    expect(redisClientOptions({ url: 'rediss://10.0.0.5' }).tls).toEqual({});
    expect(redisClientOptions({ url: 'redis://10.0.0.5' }).tls).toBeUndefined();
  });

  it('rejects other schemes and non-numeric databases as configuration errors, without echoing the password', async () => {
    await rejectsWith(
      Promise.resolve().then(() => parseRedisUrl('http://host:6379')),
      ErrorCode.config,
    );
    await rejectsWith(
      Promise.resolve().then(() => parseRedisUrl('redis://host/abc')),
      ErrorCode.config,
    );
    const e = await rejectsWith(
      Promise.resolve().then(() => parseRedisUrl('redis://u:topsecret@host/x')),
      ErrorCode.config,
    );
    expect(e.message).not.toContain('topsecret');
    expect(redact('redis://u:topsecret@host:1/0')).toBe('redis://u:***@host:1/0');
  });
});

describe('layout on a real server', () => {
  it('keeps [ns, task] apart from [ns, task, "1"] and lists whole segments only', async () => {
    const b = backend();
    const n = ns();
    await b.create([n, 'task'], 1, { generation: 1 });
    await b.create([n, 'task', '1'], 1, { attempt: 1 });
    await b.create([n, 'task2', 'x'], 1, { other: true });
    expect(await b.read([n, 'task'])).toEqual([{ index: 1, value: { generation: 1 }, version: 1 }]);
    expect(await b.read([n, 'task', '1'])).toEqual([{ index: 1, value: { attempt: 1 }, version: 1 }]);
    const listed = (await b.list([n, 'task'])).map((k) => k.join('/')).sort();
    expect(listed).toEqual([`${n}/task`, `${n}/task/1`]);
  });

  it('stores one hash per record with a value and a version field per slot', async () => {
    const b = backend({ keyPrefix: 'rt' });
    const n = ns();
    await b.create([n, 't', 's'], 3, { a: 1 });
    expect(await b.write([n, 't', 's'], 3, { a: 2 })).toBe(2);
    expect(await b.client.hgetall(`rt:${n}:t:s`)).toEqual({ '3': '{"a":2}', '3:v': '2' });
    await b.removeSlot([n, 't', 's'], 3);
    expect(await b.client.exists(`rt:${n}:t:s`)).toBe(0);
  });

  it('reports a hash it did not write as corrupt state rather than guessing', async () => {
    const b = backend();
    const n = ns();
    await b.client.hset(`runonce:${n}:t:s`, 'owner', 'someone');
    await rejectsWith(b.read([n, 't', 's']), ErrorCode.corruptState);
    await b.client.set(`runonce:${n}:t:str`, 'x');
    await rejectsWith(b.read([n, 't', 'str']), ErrorCode.corruptState);
  });

  it('expires scope and lock records after ttlSeconds but never the generation pointer', async () => {
    const b = backend({ ttlSeconds: 3600 });
    const n = ns();
    await b.create([n, 't', 's'], 1, {});
    await b.create([n, 't'], 1, {});
    await b.write([n, '_lock', 'l'], 1, {});
    const ttl = await b.client.ttl(`runonce:${n}:t:s`);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(await b.client.ttl(`runonce:${n}:_lock:l`)).toBeGreaterThan(3500);
    expect(await b.client.ttl(`runonce:${n}:t`)).toBe(-1);
  });

  it('rejects key segments that would break the key encoding', async () => {
    const b = backend();
    await rejectsWith(b.read(['a:b', 't']), ErrorCode.validation);
    await rejectsWith(b.list(['*']), ErrorCode.validation);
  });
});

describe('withLock on a real server', () => {
  it('a script that exits right after withLock (its release sent, not answered) leaves the lock released', () => {
    const namespace = ns();
    const prefix = `exit-${randomUUID().slice(0, 8)}`;
    // the cron-script pattern: the open connection would keep the process alive, so it exits by hand
    const script = `
      import { RedisBackend } from '@runonce/backend-redis';
      import { RunOnce } from '@runonce/core';
      const r = new RunOnce({ backend: new RedisBackend({ url: ${JSON.stringify(url)}, keyPrefix: '${prefix}' }), namespace: '${namespace}' });
      for (let i = 0; i < 3; i++) await r.withLock('nightly', () => {}, { lease: '30s' });
      process.exit(0);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url) });
    return (async () => {
      const slots = await backend({ keyPrefix: prefix }).read([namespace, '_lock', 'nightly']);
      expect(slots.map((s) => [s.index, s.value.state])).toEqual([
        [2, 'released'],
        [3, 'released'],
      ]);
    })();
  });
});

describe('AUTH and ACL on a real server', () => {
  let server: LocalRedis;
  beforeAll(async () => {
    const acl = redisAcl({ user: 'worker', password: 'w0rker-pass', keyPrefix: 'runonce' });
    server = await LocalRedis.start({ args: ['--requirepass', 'default-pass', '--user', ...acl.split(' ').slice(1)] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('authenticates with a password-only URL and refuses a wrong or missing password as access denied', async () => {
    const good = backend({ url: `redis://:default-pass@127.0.0.1:${server.port}` });
    expect(await good.create([ns(), 't', 's'], 1, { ok: true })).toEqual({ won: true, version: 1 });
    const wrong = backend({ url: `redis://:nope@127.0.0.1:${server.port}` });
    await rejectsWith(wrong.read([ns(), 't']), ErrorCode.accessDenied);
    const none = backend({ url: `redis://127.0.0.1:${server.port}` });
    await rejectsWith(none.read([ns(), 't']), ErrorCode.accessDenied);
  });

  it('works as a user holding only the redisAcl() rule, and that user cannot touch keys outside the prefix', async () => {
    const b = backend({ url: `redis://worker:w0rker-pass@127.0.0.1:${server.port}` });
    const n = ns();
    expect(await b.create([n, 't', 's'], 1, { a: 1 })).toEqual({ won: true, version: 1 });
    expect(await b.create([n, 't', 's'], 1, { a: 1 })).toEqual({ won: false });
    expect(await b.write([n, 't', 's'], 1, { a: 2 })).toBe(2);
    expect(await b.read([n, 't', 's'])).toEqual([{ index: 1, value: { a: 2 }, version: 2 }]);
    expect(await b.list([n])).toEqual([[n, 't', 's']]);
    // createNext (what locks use) runs HKEYS and HDEL inside its script.
    for (let i = 1; i <= 3; i++)
      expect(await b.createNext([n, '_lock', 'l'], i, { i }, 2)).toEqual({ won: true, version: 1 });
    expect((await b.read([n, '_lock', 'l'])).map((s) => s.index)).toEqual([2, 3]);
    await b.removeSlot([n, 't', 's'], 1);
    await b.remove([n, 't', 's']);
    const outside = backend({ url: `redis://worker:w0rker-pass@127.0.0.1:${server.port}`, keyPrefix: 'other' });
    await rejectsWith(outside.create([n, 't', 's'], 1, {}), ErrorCode.accessDenied);
  });
});

describe('connection loss', () => {
  it('fails fast with BackendUnavailableError while the server is down, and recovers when it is back', async () => {
    const server = await LocalRedis.start();
    try {
      const b = backend({ url: server.url });
      const key = [ns(), 't', 's'];
      await b.create(key, 1, { a: 1 });
      await server.stop();
      for (const op of [() => b.read(key), () => b.write(key, 1, { a: 2 }), () => b.create(key, 2, {})]) {
        const started = performance.now();
        await rejectsWith(op(), ErrorCode.backendUnavailable);
        expect(performance.now() - started).toBeLessThan(3000);
      }
      await server.restart();
      // The client reconnects on its own (backoff up to 2 s); the data died with the server.
      const deadline = Date.now() + 10_000;
      let slots: unknown;
      while (Date.now() < deadline) {
        try {
          slots = await b.read(key);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(slots).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('gives up on a server that accepts but never answers after commandTimeoutMs', async () => {
    const server = await LocalRedis.start();
    try {
      const b = backend({ url: server.url, commandTimeoutMs: 500 });
      await b.read([ns(), 't']);
      server.pause();
      const started = performance.now();
      await rejectsWith(b.create([ns(), 't', 's'], 1, {}), ErrorCode.backendUnavailable);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      server.resume();
      await server.stop();
    }
  });

  it('reports a port nobody listens on as unavailable within a second', async () => {
    const server = await LocalRedis.start();
    const deadUrl = server.url;
    await server.stop();
    const b = backend({ url: deadUrl });
    const started = performance.now();
    await rejectsWith(b.read(['x', 'y']), ErrorCode.backendUnavailable);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('is closed idempotently and refuses calls afterwards', async () => {
    const b = backend();
    await b.read([ns(), 't']);
    await b.close();
    await b.close();
    await rejectsWith(b.read([ns(), 't']), ErrorCode.validation);
  });

  it('leaves a client it was given open on close', async () => {
    const client = new Redis(redisClientOptions({ url }));
    const b = new RedisBackend({}, client);
    await b.create([ns(), 't', 's'], 1, {});
    await b.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });
});

describe('TLS on a real server', () => {
  let server: LocalRedis;
  let dir: string;
  let port: number;
  beforeAll(async () => {
    // A throwaway CA-less self-signed certificate for localhost (openssl comes with scripts/test-services.sh).
    dir = mkdtempSync(join(tmpdir(), 'runonce-redis-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    port = await freePort();
    server = await LocalRedis.start({
      port,
      args: [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        join(dir, 'cert.pem'),
        '--tls-key-file',
        join(dir, 'key.pem'),
        '--tls-auth-clients',
        'no',
        '--requirepass',
        'tls-pass',
      ],
    });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('speaks TLS with AUTH for rediss:// and verifies the certificate against the given CA', async () => {
    const b = backend({ url: `rediss://:tls-pass@localhost:${port}`, tlsCaFile: join(dir, 'cert.pem') });
    const key = [ns(), 't', 's'];
    expect(await b.create(key, 1, { tls: true })).toEqual({ won: true, version: 1 });
    expect(await b.read(key)).toEqual([{ index: 1, value: { tls: true }, version: 1 }]);
  });

  it('refuses a certificate it cannot verify, and a CA file it cannot read', async () => {
    const untrusted = backend({ url: `rediss://:tls-pass@localhost:${port}` });
    await rejectsWith(untrusted.read([ns(), 't']), ErrorCode.backendUnavailable);
    await rejectsWith(
      Promise.resolve().then(
        () => new RedisBackend({ url: `rediss://localhost:${port}`, tlsCaFile: join(dir, 'nope.pem') }),
      ),
      ErrorCode.config,
    );
  });

  it('does not talk plain Redis to a TLS port', async () => {
    const plain = backend({ url: `redis://:tls-pass@localhost:${port}`, commandTimeoutMs: 1000 });
    await rejectsWith(plain.read([ns(), 't']), ErrorCode.backendUnavailable);
  });
});
