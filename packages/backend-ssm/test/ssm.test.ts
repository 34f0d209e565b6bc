import { createServer, type Server } from 'node:net';
import {
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { type Backend, RunOnceError } from '@runonce/core';
import { freePort } from '@runonce/test-servers';
import { Container } from 'inversify';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BackendFactory,
  BackendFactoryId,
  encodeCreated,
  iamPolicy,
  mapSsmError,
  SsmBackend,
  ssmBackendModule,
} from '../src/index.js';
import { backend, endpoint, injectThrottling, ns, rawClient, testOptions } from './helpers.js';

const raw = rawClient();
afterAll(() => raw.destroy());

/** Every PutParameter with Overwrite=false is sent as Overwrite=true: a create that "succeeds" over an existing slot. */
function lyingCreates(client: SSMClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Overwrite?: boolean };
      if (context.commandName === 'PutParameterCommand' && input.Overwrite === false) input.Overwrite = true;
      return next(args);
    },
    { step: 'initialize', name: 'lyingCreates' },
  );
}

const currentValue = async (name: string) => {
  const path = name.slice(0, name.lastIndexOf('/'));
  const out = await raw.send(new GetParametersByPathCommand({ Path: path }));
  return out.Parameters?.find((p) => p.Name === name);
};

describe('layout', () => {
  it('keeps [ns, task] slots apart from [ns, task, "1"] records: both parameters coexist', async () => {
    const b = backend();
    const n = ns();
    try {
      expect(await b.create([n, 'task'], 1, { gen: 1 })).toMatchObject({ won: true });
      expect(await b.create([n, 'task', '1'], 1, { attempt: 1 })).toMatchObject({ won: true });
      expect(await b.create([n, 'task', '1'], 2, { attempt: 2 })).toMatchObject({ won: true });
      expect((await b.read([n, 'task'])).map((s) => [s.index, s.value])).toEqual([[1, { gen: 1 }]]);
      expect((await b.read([n, 'task', '1'])).map((s) => s.index)).toEqual([1, 2]);
      // both names exist side by side in the store, one a path level of the other
      expect(await currentValue(`/runonce-test/${n}/task/1`)).toBeDefined();
      expect(await currentValue(`/runonce-test/${n}/task/1/1`)).toBeDefined();
      expect((await b.list([n])).map((k) => k.join('/')).sort()).toEqual([`${n}/task`, `${n}/task/1`]);
      await b.remove([n, 'task']);
      expect(await b.read([n, 'task'])).toEqual([]);
      expect((await b.read([n, 'task', '1'])).length).toBe(2);
    } finally {
      await b.close();
    }
  });

  it('stores a create with its creator token and a write without one, as String Standard-tier parameters', async () => {
    const b = backend();
    const n = ns();
    try {
      await b.create([n, 't', 's'], 1, { state: 'running' });
      const created = await currentValue(`/runonce-test/${n}/t/s/1`);
      expect(created?.Type).toBe('String');
      expect(JSON.parse(created?.Value ?? '')).toEqual({ c: expect.any(String), d: { state: 'running' } });
      expect(await b.write([n, 't', 's'], 1, { state: 'done' })).toBe(2);
      expect(JSON.parse((await currentValue(`/runonce-test/${n}/t/s/1`))?.Value ?? '')).toEqual({
        d: { state: 'done' },
      });
    } finally {
      await b.close();
    }
  });
});

describe('one winner from the history when two creates both "succeed"', () => {
  it('a second create that overwrites the slot loses, and every reader keeps the first value', async () => {
    const a = backend();
    const liar = backend({ client: rawClientWith(lyingCreates) });
    const fresh = backend();
    const n = ns();
    const key = [n, 'task', 'scope'];
    try {
      expect(await a.create(key, 1, { owner: 'A' })).toEqual({ won: true, version: 1 });
      // B's PutParameter is accepted (Overwrite forced on), as an emulator's racing create can be
      expect(await liar.create(key, 1, { owner: 'B' })).toEqual({ won: false });
      const stored = await currentValue(`/runonce-test/${key.join('/')}/1`);
      expect(JSON.parse(stored?.Value ?? '').d).toEqual({ owner: 'B' }); // B's value is what SSM holds now…
      for (const reader of [a, liar, fresh]) {
        // …but every reader agrees on A, the first entry of the history
        expect(await reader.read(key)).toEqual([{ index: 1, value: { owner: 'A' }, version: 2 }]);
      }
      expect(await a.write(key, 1, { owner: 'A', state: 'done' })).toBe(3);
      expect((await fresh.read(key))[0]).toEqual({ index: 1, value: { owner: 'A', state: 'done' }, version: 3 });
    } finally {
      await Promise.all([a.close(), liar.close(), fresh.close()]);
      liar.client.destroy();
    }
  });

  it('the winner repairs the slot when a racing create lands between its put and its history check', async () => {
    const n = ns();
    const key = [n, 'task', 'scope'];
    const liar = backend({ client: rawClientWith(lyingCreates) });
    let liarResult: unknown;
    // B's racing create lands right after A's put, before A reads the history
    const a = backend({
      client: rawClientWith((c) =>
        c.middlewareStack.add(
          (next, context) => async (args) => {
            const out = await next(args);
            if (context.commandName === 'PutParameterCommand' && liarResult === undefined) {
              liarResult = await liar.create(key, 1, { owner: 'B' });
            }
            return out;
          },
          { step: 'initialize', name: 'raceAfterPut' },
        ),
      ),
    });
    const fresh = backend();
    try {
      const won = await a.create(key, 1, { owner: 'A' });
      expect(liarResult).toEqual({ won: false });
      expect(won).toEqual({ won: true, version: 3 }); // A's put v1, B's v2, A's repair v3
      const stored = JSON.parse((await currentValue(`/runonce-test/${key.join('/')}/1`))?.Value ?? '');
      expect(stored).toEqual({ d: { owner: 'A' } }); // SSM itself holds A's value again
      expect(await fresh.read(key)).toEqual([{ index: 1, value: { owner: 'A' }, version: 3 }]);
    } finally {
      await Promise.all([a.close(), liar.close(), fresh.close()]);
      a.client.destroy();
      liar.client.destroy();
    }
  });

  it('ten creates that all "succeed" at once: exactly one winner, and readers see its value', async () => {
    const n = ns();
    const key = [n, 'task', 'scope'];
    const contenders = Array.from({ length: 10 }, () => backend({ client: rawClientWith(lyingCreates) }));
    const reader = backend();
    try {
      const results = await Promise.all(contenders.map((b, i) => b.create(key, 1, { owner: `c${i}` })));
      const winners = results.flatMap((r, i) => (r.won ? [i] : []));
      expect(winners).toHaveLength(1);
      const history = await raw.send(new GetParameterHistoryCommand({ Name: `/runonce-test/${key.join('/')}/1` }));
      expect(history.Parameters?.length).toBeGreaterThanOrEqual(10); // every put really was accepted
      const slots = await reader.read(key);
      expect(slots.map((s) => s.value)).toEqual([{ owner: `c${winners[0]}` }]);
    } finally {
      await Promise.all([...contenders.map((b) => b.close()), reader.close()]);
      for (const b of contenders) b.client.destroy();
    }
  });
});

describe('throttling', () => {
  it('20 contenders, 30% of calls throttled: exactly one winner and a definite answer for each', async () => {
    const n = ns();
    const key = [n, 'task', 'scope'];
    const counter = { calls: 0, injected: 0 };
    const throttled = (c: SSMClient) => injectThrottling(c, counter);
    const contenders = Array.from({ length: 20 }, () =>
      backend({
        client: rawClientWith(throttled),
        throttleBaseDelayMs: 20,
        throttleMaxDelayMs: 500,
        throttleRetries: 20,
      }),
    );
    try {
      const results = await Promise.all(contenders.map((b, i) => b.create(key, 1, { owner: `c${i}` })));
      expect(results.filter((r) => r.won)).toHaveLength(1);
      expect(results.every((r) => typeof r.won === 'boolean')).toBe(true);
      expect(counter.calls).toBeGreaterThanOrEqual(21); // 20 creates and at least the winner's history check
      expect(counter.injected).toBeGreaterThanOrEqual(6);
      const winner = results.findIndex((r) => r.won);
      expect((await contenders[0]?.read(key))?.map((s) => s.value)).toEqual([{ owner: `c${winner}` }]);
    } finally {
      await Promise.all(contenders.map((b) => b.close()));
      for (const b of contenders) b.client.destroy();
    }
  });

  /** Throttles (before they are sent) the requests `which` picks by command name; others go through. */
  const throttling = (name: string, which: (command: string) => boolean) => (c: SSMClient) =>
    c.middlewareStack.add(
      (next, context) => async (args) => {
        if (!which(context.commandName)) return next(args);
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
      },
      { step: 'finalizeRequest', priority: 'low', name },
    );
  const putsThrottled = throttling('putsThrottled', (command) => command === 'PutParameterCommand');
  const allThrottled = throttling('allThrottled', () => true);

  it('a throttled create re-reads the record and, once the slot exists, loses without another put', async () => {
    const key = [ns(), 't', 's'];
    const first = backend();
    const calls: string[] = [];
    const late = backend({
      client: rawClientWith(putsThrottled, { maxAttempts: 1 }),
      throttleBaseDelayMs: 1,
      onCall: (c) => calls.push(c),
    });
    try {
      expect(await first.create(key, 1, { owner: 'first' })).toMatchObject({ won: true });
      expect(await late.create(key, 1, { owner: 'late' })).toEqual({ won: false });
      expect(calls).toEqual(['PutParameter', 'GetParametersByPath']);
    } finally {
      await Promise.all([first.close(), late.close()]);
      late.client.destroy();
    }
  });

  it('a create throttled past its retries rejects with E_THROTTLED, never as won or lost', async () => {
    const calls: string[] = [];
    const b = backend({
      client: rawClientWith(putsThrottled, { maxAttempts: 1 }),
      throttleRetries: 3,
      throttleBaseDelayMs: 1,
      onCall: (c) => calls.push(c),
    });
    try {
      const key = [ns(), 't', 's'];
      const err = await b.create(key, 1, { x: 1 }).catch((e: unknown) => e);
      expect(RunOnceError.is(err, 'E_THROTTLED')).toBe(true);
      // each throttled put is followed by a read that finds the slot still free
      expect(calls).toEqual([
        'PutParameter',
        'GetParametersByPath',
        'PutParameter',
        'GetParametersByPath',
        'PutParameter',
        'GetParametersByPath',
        'PutParameter',
      ]);
      expect(await b.read(key)).toEqual([]);
    } finally {
      await b.close();
      b.client.destroy();
    }
  });

  it('stops retrying after throttleBudgetMs for the whole operation, nested checks included', async () => {
    const calls: string[] = [];
    const b = backend({
      client: rawClientWith(allThrottled, { maxAttempts: 1 }),
      throttleRetries: 1000,
      throttleBaseDelayMs: 20,
      throttleMaxDelayMs: 40,
      throttleBudgetMs: 400,
      onCall: (c) => calls.push(c),
    });
    try {
      const key = [ns(), 't', 's'];
      for (const op of [() => b.read(key), () => b.create(key, 1, { x: 1 }), () => b.write(key, 1, { x: 1 })]) {
        calls.length = 0;
        const t0 = performance.now();
        const err = await op().catch((e: unknown) => e);
        const ms = performance.now() - t0;
        expect(RunOnceError.is(err, 'E_THROTTLED')).toBe(true);
        // It did retry; but 1000 rounds of up to 40 ms would take about 20 s, and nested
        // existence checks with budgets of their own longer still: the budget ends it at 400 ms.
        expect(calls.length).toBeGreaterThan(3);
        expect(ms).toBeLessThan(10_000);
      }
    } finally {
      await b.close();
      b.client.destroy();
    }
  });
});

describe('validation before any call', () => {
  const calls: string[] = [];
  const b = backend({ onCall: (c) => calls.push(c) });
  afterAll(() => b.close());

  const rejects = async (p: Promise<unknown>, pattern: RegExp) => {
    const err = await p.catch((e: unknown) => e);
    expect(RunOnceError.is(err, 'E_VALIDATION')).toBe(true);
    expect((err as Error).message).toMatch(pattern);
  };

  it('rejects names SSM would refuse: characters, 15 levels, 1011 characters, slot numbers', async () => {
    await rejects(b.create(['ns', 'a b'], 1, {}), /A-Z a-z 0-9 _ \. -/);
    await rejects(b.create(['ns', 'a/b'], 1, {}), /A-Z a-z 0-9 _ \. -/);
    await rejects(b.read(['ns', '']), /key segment/);
    await rejects(b.read([]), /at least one segment/);
    const deep = Array.from({ length: 14 }, (_, i) => `l${i}`); // prefix 1 + 14 + slot = 16 levels
    await rejects(b.create(deep, 1, {}), /16 levels; SSM allows 15/);
    await expect(b.create([ns(), ...deep.slice(2)], 1, {})).resolves.toMatchObject({ won: true }); // 15 levels is fine
    const long = Array.from({ length: 8 }, () => 'x'.repeat(128)); // over 1011 characters
    await rejects(b.write(long, 1, {}), /SSM allows 1011/);
    await rejects(b.create(['ns', 't'], 0, {}), /positive integer/);
    await rejects(b.removeSlot(['ns', 't'], 1.5), /positive integer/);
    expect(() => new SsmBackend({ ...testOptions(), prefix: 'runonce' })).toThrow(/invalid SSM prefix/);
    expect(() => new SsmBackend({ ...testOptions(), prefix: '/aws/x' })).toThrow(/invalid SSM prefix/);
    expect(() => new SsmBackend({ ...testOptions(), prefix: '/runonce/' })).toThrow(/invalid SSM prefix/);
    expect(calls).toEqual(['PutParameter', 'GetParameterHistory']); // only the valid 15-level create was sent
  });

  it('rejects values over 4 KB stored, and accepts one just under', async () => {
    calls.length = 0;
    await rejects(b.create([ns(), 't'], 1, { blob: 'x'.repeat(4096) }), /at most 4096/);
    await rejects(b.write([ns(), 't'], 1, { blob: 'é'.repeat(2040) }), /at most 4096/); // 2 bytes each
    expect(calls).toEqual([]);
    const n = ns();
    const value = { blob: 'x'.repeat(4096 - encodeCreated('x'.repeat(16), { blob: '' }).length) };
    await expect(b.create([n, 't'], 1, value)).resolves.toMatchObject({ won: true });
    expect((await b.read([n, 't']))[0]?.value).toEqual(value);
  });
});

describe('errors', () => {
  let hang: Server | undefined;
  afterAll(() => hang?.close());

  const unavailableWithin = async (b: Backend, ms: number) => {
    for (const op of [() => b.read(['ns', 't']), () => b.create(['ns', 't'], 1, {}), () => b.list(['ns'])]) {
      const t0 = Date.now();
      const err = await op().catch((e: unknown) => e);
      expect(RunOnceError.is(err, 'E_BACKEND_UNAVAILABLE'), String(err)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(ms);
    }
    await b.close();
  };

  it('a closed port: E_BACKEND_UNAVAILABLE in well under 15 s', async () => {
    const port = await freePort();
    await unavailableWithin(backend({ endpoint: `http://127.0.0.1:${port}` }), 5_000);
  });

  it('a host that does not resolve: E_BACKEND_UNAVAILABLE in well under 15 s', async () => {
    await unavailableWithin(backend({ endpoint: 'http://runonce-no-such-host.invalid:4566' }), 10_000);
  });

  it('a server that accepts and never answers: E_BACKEND_UNAVAILABLE in under 15 s with the default timeouts', {
    timeout: 60_000,
  }, async () => {
    hang = createServer(() => {}).listen(0, '127.0.0.1');
    await new Promise((r) => hang?.once('listening', r));
    const port = (hang.address() as { port: number }).port;
    const b = backend({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: undefined }); // the default, 3 s
    const t0 = Date.now();
    const err = await b.read(['ns', 't']).catch((e: unknown) => e);
    expect(RunOnceError.is(err, 'E_BACKEND_UNAVAILABLE'), String(err)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await b.close();
  });

  it('maps SSM refusals: a reserved name is AccessDenied, a bad request is a ValidationError', async () => {
    const denied = await raw
      .send(new PutParameterCommand({ Name: '/aws/runonce-test/x', Value: 'v', Type: 'String' }))
      .catch((e: unknown) => e);
    expect(mapSsmError(denied, 'PutParameter', endpoint()).code).toBe('E_ACCESS_DENIED');
    const invalid = await raw
      .send(new GetParametersByPathCommand({ Path: '/runonce-test', MaxResults: 50 }))
      .catch((e: unknown) => e);
    expect(mapSsmError(invalid, 'GetParametersByPath', endpoint()).code).toBe('E_VALIDATION');
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'TooManyUpdates',
      $metadata: { httpStatusCode: 400 },
    });
    expect(mapSsmError(throttled, 'PutParameter', endpoint()).code).toBe('E_THROTTLED');
    // One exit code per cause across the AWS backends: no region is configuration (78), as on DynamoDB.
    expect(mapSsmError(new Error('Region is missing'), 'GetParametersByPath', endpoint()).code).toBe('E_CONFIG');
  });

  it('a parameter runonce did not write is corrupt state, not an empty slot', async () => {
    const n = ns();
    await raw.send(new PutParameterCommand({ Name: `/runonce-test/${n}/t/s/1`, Value: '0', Type: 'String' }));
    const b = backend();
    const err = await b.read([n, 't', 's']).catch((e: unknown) => e);
    expect(RunOnceError.is(err, 'E_CORRUPT_STATE')).toBe(true);
    await b.close();
  });
});

describe('wiring', () => {
  it('the inversify module binds a factory that builds an SSM backend with the CLI options', async () => {
    const container = new Container();
    container.load(ssmBackendModule);
    const factory = container.get<BackendFactory>(BackendFactoryId);
    const b = factory({ ssmPrefix: '/runonce-test', ssm: testOptions() });
    try {
      expect(b).toBeInstanceOf(SsmBackend);
      expect((b as SsmBackend).prefix).toBe('/runonce-test');
      expect(b.capabilities).toEqual({ ttl: false, shared: true });
      const n = ns();
      expect(await b.create([n, 't'], 1, { ok: true })).toMatchObject({ won: true });
    } finally {
      await b.close();
    }
  });

  it('the IAM policy allows exactly the calls made, on the prefix and below it', () => {
    expect(SsmBackend.iamPolicy('/runonce', 'eu-west-1', '123456789012')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'RunOnceSsmBackend',
          Effect: 'Allow',
          Action: ['ssm:PutParameter', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory', 'ssm:DeleteParameters'],
          Resource: [
            'arn:aws:ssm:eu-west-1:123456789012:parameter/runonce',
            'arn:aws:ssm:eu-west-1:123456789012:parameter/runonce/*',
          ],
        },
      ],
    });
    expect(iamPolicy().Statement[0]?.Resource[0]).toBe('arn:aws:ssm:*:*:parameter/runonce');
  });
});

function rawClientWith(install: (c: SSMClient) => void, config: { maxAttempts?: number } = {}): SSMClient {
  const c = rawClient(config);
  install(c);
  return c;
}
