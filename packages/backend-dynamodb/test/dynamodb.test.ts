import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { ErrorCode, RunOnceError } from '@runonce/core';
import { afterEach, describe, expect, it } from 'vitest';
import { classify, createTable, DynamoDbBackend, dynamoDbIamPolicy, mapDynamoDbError } from '../src/index.js';
import { backendWithTable, emulatorOptions, emulators, tableName } from './helpers.js';

const opened: DynamoDbBackend[] = [];
const track = <T extends DynamoDbBackend>(b: T): T => {
  opened.push(b);
  return b;
};
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});
const ns = () => `ns-${randomBytes(4).toString('hex')}`;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<RunOnceError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(RunOnceError.is(error), `expected a RunOnceError, got ${String(error)}`).toBe(true);
  expect((error as RunOnceError).code).toBe(code);
  return error as RunOnceError;
}

/**
 * Fault injection through the SDK's own middleware stack (no SDK mock): the
 * request is really built and signed, then either refused before it leaves
 * (a throttle, which DynamoDB never applies) or sent and its reply thrown
 * away (a connection dropped after the server acted).
 */
function injectBeforeSend(client: DynamoDBClient, fault: (command: string) => Error | undefined) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const error = fault(context.commandName ?? '');
      if (error) throw error;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'runonceTestFaultBefore' },
  );
}
function injectAfterSend(client: DynamoDBClient, fault: (command: string) => Error | undefined) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      const error = fault(context.commandName ?? '');
      if (error) throw error;
      return out;
    },
    { step: 'finalizeRequest', name: 'runonceTestFaultAfter' },
  );
}
const throttle = () =>
  new ThrottlingException({
    message: 'Rate of requests exceeds the allowed throughput.',
    $metadata: { httpStatusCode: 400 },
  });

describe.each(emulators)('DynamoDB on $emulator', ({ endpoint }) => {
  it('names `runonce init` when the table is missing, for every operation', async () => {
    const b = track(new DynamoDbBackend(emulatorOptions(endpoint(), tableName('missing'))));
    const ops = [
      () => b.read(['a', 'b']),
      () => b.create(['a', 'b'], 1, {}),
      () => b.write(['a', 'b'], 1, {}),
      () => b.list(['a']),
      () => b.remove(['a', 'b']),
      () => b.removeSlot(['a', 'b'], 1),
    ];
    for (const op of ops) {
      const e = await rejectsWith(op(), ErrorCode.missingTable);
      expect(e.message).toContain('runonce init');
    }
  });

  it('creates the table idempotently, ACTIVE and usable at once, with TTL where the emulator has it', async () => {
    const b = track(new DynamoDbBackend(emulatorOptions(endpoint(), tableName('init'))));
    const first = await b.createTable();
    const second = await b.createTable();
    expect(first).toMatchObject({ table: b.table, created: true });
    expect(second).toMatchObject({ table: b.table, created: false, ttl: first.ttl });
    expect(await b.create(['a', 'b'], 1, { ok: true })).toEqual({ won: true, version: 1 });
  });

  it('refuses to adopt an existing table with other keys', async () => {
    const b = track(new DynamoDbBackend(emulatorOptions(endpoint(), tableName('foreign'))));
    await b.client.send(
      new CreateTableCommand({
        TableName: b.table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    const e = await rejectsWith(createTable(b.client, b.table), ErrorCode.config);
    expect(e.message).toContain('not a runonce table');
  });

  it('stores one item per slot: pk = key joined by "/", sk = index, a version, a creator token', async () => {
    const b = track(await backendWithTable(endpoint()));
    const n = ns();
    await b.create([n, 'task'], 1, { generation: 1 });
    await b.create([n, 'task', '1'], 1, { attempt: 1 });
    await b.create([n, 'task2', 'x'], 1, {});
    expect(await b.write([n, 'task', '1'], 1, { attempt: 1, state: 'done' })).toBe(2);
    const raw = await b.client.send(
      new GetItemCommand({
        TableName: b.table,
        Key: { pk: { S: `${n}/task/1` }, sk: { N: '1' } },
        ConsistentRead: true,
      }),
    );
    expect(raw.Item).toMatchObject({ value: { S: '{"attempt":1,"state":"done"}' }, version: { N: '2' } });
    expect(raw.Item?.token?.S).toMatch(/^[0-9a-f-]{36}$/);
    expect(await b.read([n, 'task'])).toEqual([{ index: 1, value: { generation: 1 }, version: 1 }]);
    const listed = (await b.list([n, 'task'])).map((k) => k.join('/')).sort();
    expect(listed).toEqual([`${n}/task`, `${n}/task/1`]);
  });

  it('sets expiresAt on scope and lock records only, and still reads an item past its expiresAt', async () => {
    const b = track(await backendWithTable(endpoint(), { ttlSeconds: 3600 }));
    const n = ns();
    await b.create([n, 't', 's'], 1, {});
    await b.create([n, 't'], 1, {});
    const get = async (pk: string) =>
      (
        await b.client.send(
          new GetItemCommand({ TableName: b.table, Key: { pk: { S: pk }, sk: { N: '1' } }, ConsistentRead: true }),
        )
      ).Item;
    const expires = Number((await get(`${n}/t/s`))?.expiresAt?.N);
    expect(expires - Date.now() / 1000).toBeGreaterThan(3500);
    expect((await get(`${n}/t`))?.expiresAt).toBeUndefined();
    // DynamoDB deletes expired items late; until it does they are data, not "gone".
    await b.client.send(
      new PutItemCommand({
        TableName: b.table,
        Item: {
          pk: { S: `${n}/t/old` },
          sk: { N: '1' },
          value: { S: '{"state":"done"}' },
          version: { N: '3' },
          expiresAt: { N: '1000' },
        },
      }),
    );
    expect(await b.read([n, 't', 'old'])).toEqual([{ index: 1, value: { state: 'done' }, version: 3 }]);
  });

  it('removes a record of more than 25 slots (several batches) and pages through large reads', async () => {
    const b = track(await backendWithTable(endpoint()));
    const key = [ns(), 't', 's'];
    const big = 'x'.repeat(150_000);
    for (let i = 1; i <= 60; i++) await b.create(key, i, i <= 10 ? { i, big } : { i });
    let queries = 0;
    injectBeforeSend(b.client, (cmd) => {
      if (cmd === 'QueryCommand') queries++;
      return undefined;
    });
    const slots = await b.read(key);
    expect(slots.map((s) => s.index)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(queries).toBeGreaterThan(1); // 1.5 MB of values: more than one 1 MB page
    await b.remove(key);
    expect(await b.read(key)).toEqual([]);
    await b.remove(key);
  });

  it('retries throttled calls: 20 contenders under 30% injected throttling, exactly one winner', async () => {
    const setup = track(await backendWithTable(endpoint()));
    const key = [ns(), 't', 's'];
    let throttled = 0;
    // A seeded generator, so every run throttles the same way (and surely some).
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const contenders = Array.from({ length: 20 }, () => {
      const b = track(new DynamoDbBackend(emulatorOptions(endpoint(), setup.table)));
      injectBeforeSend(b.client, () => {
        if (random() >= 0.3) return undefined;
        throttled++;
        return throttle();
      });
      return b;
    });
    const results = await Promise.all(contenders.map((b, i) => b.create(key, 1, { contender: i })));
    const winners = results.flatMap((r, i) => (r.won ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(throttled).toBeGreaterThan(0);
    const slots = await setup.read(key);
    expect(slots).toEqual([{ index: 1, value: { contender: winners[0] as number }, version: 1 }]);
  });

  it('reports throttling that outlasts its retries as ThrottledError, never as won or lost', async () => {
    const b = track(await backendWithTable(endpoint(), { throttleRetries: 2 }));
    const key = [ns(), 't', 's'];
    injectBeforeSend(b.client, (cmd) => (cmd === 'PutItemCommand' ? throttle() : undefined));
    await rejectsWith(b.create(key, 1, {}), ErrorCode.throttled);
    expect(await b.read(key)).toEqual([]);
  });

  it('settles a create whose reply was lost by its token: the creator won, a rival lost', async () => {
    const b = track(await backendWithTable(endpoint()));
    const rival = track(new DynamoDbBackend(emulatorOptions(endpoint(), b.table)));
    const key = [ns(), 't', 's'];
    let dropped = false;
    injectAfterSend(b.client, (cmd) => {
      if (cmd !== 'PutItemCommand' || dropped) return undefined;
      dropped = true;
      return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });
    expect(await b.create(key, 1, { who: 'a' })).toEqual({ won: true, version: 1 });
    expect(dropped).toBe(true);
    expect(await rival.create(key, 1, { who: 'b' })).toEqual({ won: false });
    expect((await b.read(key))[0]?.value).toEqual({ who: 'a' });
  });
});

describe('DynamoDB unreachable', () => {
  it('fails with BackendUnavailableError within seconds', async () => {
    const b = track(new DynamoDbBackend(emulatorOptions('http://127.0.0.1:1', 'runonce')));
    const started = performance.now();
    await rejectsWith(b.read(['a', 'b']), ErrorCode.backendUnavailable);
    await rejectsWith(b.create(['a', 'b'], 1, {}), ErrorCode.backendUnavailable);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('is closed idempotently and refuses calls afterwards', async () => {
    const b = new DynamoDbBackend(emulatorOptions('http://127.0.0.1:1', 'runonce'));
    await b.close();
    await b.close();
    await rejectsWith(b.read(['a', 'b']), ErrorCode.validation);
  });
});

describe('IAM policy', () => {
  it('grants the calls the backend makes on its table, and init calls only when asked', () => {
    const policy = dynamoDbIamPolicy({ table: 'runonce', region: 'eu-west-1', account: '123456789012' });
    const [use, init] = policy.Statement;
    expect(use?.Resource).toBe('arn:aws:dynamodb:eu-west-1:123456789012:table/runonce');
    expect(use?.Action).toEqual(
      expect.arrayContaining([
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
      ]),
    );
    expect(init?.Action).toContain('dynamodb:CreateTable');
    expect(dynamoDbIamPolicy({ includeInit: false }).Statement).toHaveLength(1);
  });
});

describe('error mapping', () => {
  it('treats a missing region as configuration, not an outage, and never retries it', () => {
    const e = new Error('Region is missing');
    expect(classify(e)).toBe('final');
    expect(mapDynamoDbError(e, 'read', 'runonce').code).toBe(ErrorCode.config);
  });

  it('tells throttling (never applied) from network failures (maybe applied)', () => {
    expect(classify(throttle())).toBe('throttled');
    expect(classify(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 429 } }))).toBe('throttled');
    expect(classify(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('maybeApplied');
    expect(classify(Object.assign(new Error('x'), { $fault: 'server', $metadata: { httpStatusCode: 500 } }))).toBe(
      'maybeApplied',
    );
    const denied = Object.assign(new Error('no'), {
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    expect(classify(denied)).toBe('final');
    expect(mapDynamoDbError(denied, 'read', 'runonce').code).toBe(ErrorCode.accessDenied);
  });
});
