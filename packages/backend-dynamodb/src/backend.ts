import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import {
  BACKOFF,
  type Backend,
  type Clock,
  CorruptStateError,
  type CreateResult,
  checkKey,
  checkSlotIndex,
  clockOf,
  isKeySegment,
  type JsonObject,
  parseSlotValue,
  type RecordKey,
  retry,
  type Slot,
  ValidationError,
} from '@runonce/core';
import { classify, mapDynamoDbError } from './errors.js';
import { dynamoDbIamPolicy } from './iam.js';
import { type CreateTableResult, createTable } from './table.js';

export interface DynamoDbBackendOptions {
  /** Table name. Default `runonce` (`--table`, `RUNONCE_DYNAMODB_TABLE`). */
  table?: string;
  /** Endpoint URL, for emulators. Default: the SDK's chain (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, the region's). */
  endpoint?: string;
  /** Default: the SDK's chain (`AWS_REGION`, profile, instance metadata). */
  region?: string;
  /** Static credentials (tests, emulators). Default: the SDK's chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Set `expiresAt` (epoch seconds) this long after each create and write of
   * scope and lock records, for DynamoDB's TTL to delete old scopes. The
   * generation pointer `[ns, task]` never gets one. DynamoDB deletes expired
   * items late (typically within days), and until then they are data like any
   * other: expiry is housekeeping, never a state. Default: no `expiresAt`.
   */
  ttlSeconds?: number;
  /** Attempts after a throttled request (backoff with full jitter, 50 ms doubling to 2 s). Default 10. */
  throttleRetries?: number;
  /** Attempts after a network error or a 5xx. Default 2. */
  transientRetries?: number;
  /** TCP connect timeout. Default 2000. */
  connectTimeoutMs?: number;
  /** Timeout for an answer to one request. Default 5000. */
  requestTimeoutMs?: number;
}

export interface DynamoDbBackendDeps {
  /** A client you manage (close() leaves it open). Its own retries should be off (`maxAttempts: 1`): this backend retries. */
  client?: DynamoDBClient;
  /** Random source for backoff jitter, in [0, 1). */
  random?: () => number;
  /** The clock for backoff pauses. Default the system clock. */
  clock?: Clock;
  /** Replaces only the clock's pauses (tests). */
  sleep?: (ms: number) => Promise<void>;
}

/** The SDK client the backend makes for itself: no SDK retries (the backend retries, knowing which calls are safe to repeat), bounded timeouts. */
export function dynamoDbClientConfig(options: DynamoDbBackendOptions = {}): DynamoDBClientConfig {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 2000,
      requestTimeout: options.requestTimeoutMs ?? 5000,
    },
  };
}

/**
 * DynamoDB backend: one item per slot in one table.
 *
 *   pk (S)        the record key, segments joined by '/' (which no segment
 *                 holds, so [ns, task] and [ns, task, "1"] never meet)
 *   sk (N)        the slot index
 *   value (S)     the slot's JSON
 *   version (N)   1 on create, +1 on every write
 *   expiresAt (N) optional, epoch seconds, for the table's TTL
 *   token (S)     the creator's random id, to settle an ambiguous create
 *
 * A create is a conditional PutItem: of N concurrent creators DynamoDB
 * applies exactly one, the others get ConditionalCheckFailed.
 */
export class DynamoDbBackend implements Backend {
  readonly name = 'dynamodb';
  get location(): string {
    return `table ${this.table}`;
  }
  readonly capabilities = { ttl: true, shared: true } as const;
  readonly table: string;
  readonly #client: DynamoDBClient;
  readonly #ownsClient: boolean;
  readonly #ttl: number;
  readonly #throttleRetries: number;
  readonly #transientRetries: number;
  readonly #random: () => number;
  readonly #clock: Clock;
  #closed = false;

  /** One options object, as every backend takes: the settings, and (for tests and tools) the client, random source and clock. */
  constructor(options: DynamoDbBackendOptions & DynamoDbBackendDeps = {}) {
    this.table = options.table ?? 'runonce';
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(this.table))
      throw new ValidationError(`DynamoDB table name must be 3–255 of [A-Za-z0-9_.-], got ${this.table}`);
    const ttl = options.ttlSeconds ?? 0;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      throw new ValidationError(`ttlSeconds must be a whole number of seconds, got ${ttl}`);
    this.#ttl = ttl;
    this.#throttleRetries = options.throttleRetries ?? 10;
    this.#transientRetries = options.transientRetries ?? 2;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new DynamoDBClient(dynamoDbClientConfig(options));
    this.#random = options.random ?? Math.random;
    this.#clock = clockOf(options);
  }

  /** The SDK client, for `createTable`, doctor and tests (e.g. to add fault-injecting middleware). */
  get client(): DynamoDBClient {
    return this.#client;
  }

  /** `runonce init`: create the table if absent, wait for ACTIVE, enable TTL where supported. Idempotent. */
  createTable(options: { timeoutMs?: number } = {}): Promise<CreateTableResult> {
    return createTable(this.#client, this.table, options);
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const pk = this.#pk(key);
    const slots: Slot[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#call('read', () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: pk } },
            ExpressionAttributeNames: { '#v': 'value' },
            ProjectionExpression: 'sk, #v, version',
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) slots.push(toSlot(pk, item));
      start = page.LastEvaluatedKey;
    } while (start);
    return slots.sort((a, b) => a.index - b.index);
  }

  /*
   * An ambiguous create (the connection died after the request left) is sent
   * again. If the retry then meets ConditionalCheckFailed, the slot may be
   * ours from the first try, so it is read back and its token compared:
   *
   *   A: PutItem(token a) ──x (reply lost)     B: PutItem(token b) → failed
   *   A: PutItem(token a) → ConditionalCheckFailed
   *   A: GetItem → token a  ⇒ A won, and B correctly lost.
   */
  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const pk = this.#pk(key);
    const token = randomUUID();
    const item: Record<string, AttributeValue> = {
      pk: { S: pk },
      sk: { N: String(index) },
      value: { S: JSON.stringify(value) },
      version: { N: '1' },
      token: { S: token },
      ...this.#expiry(key),
    };
    let ambiguous = false;
    try {
      await this.#call(
        'create',
        () =>
          this.#client.send(
            new PutItemCommand({
              TableName: this.table,
              Item: item,
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        () => {
          ambiguous = true;
        },
      );
      return { won: true, version: 1 };
    } catch (e) {
      if ((e as { cause?: { name?: string } }).cause?.name !== 'ConditionalCheckFailedException') throw e;
    }
    if (!ambiguous) return { won: false };
    const existing = await this.#call('create (confirm)', () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { pk: { S: pk }, sk: { N: String(index) } },
          ConsistentRead: true,
          ProjectionExpression: '#t, version',
          ExpressionAttributeNames: { '#t': 'token' },
        }),
      ),
    );
    if (existing.Item?.token?.S === token) return { won: true, version: Number(existing.Item.version?.N ?? 1) };
    return { won: false };
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const pk = this.#pk(key);
    const expiry = this.#expiry(key).expiresAt;
    const out = await this.#call('write', () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: pk }, sk: { N: String(index) } },
          UpdateExpression: `SET #v = :value${expiry ? ', expiresAt = :exp' : ''} ADD version :one`,
          ExpressionAttributeNames: { '#v': 'value' },
          ExpressionAttributeValues: {
            ':value': { S: JSON.stringify(value) },
            ':one': { N: '1' },
            ...(expiry ? { ':exp': expiry } : {}),
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    const version = Number(out.Attributes?.version?.N);
    if (!Number.isSafeInteger(version) || version < 1)
      throw new CorruptStateError(`DynamoDB returned no version for ${pk} slot ${index}`);
    return version;
  }

  async remove(key: RecordKey): Promise<void> {
    const pk = this.#pk(key);
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#call('remove (query)', () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: pk } },
            ProjectionExpression: 'pk, sk',
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      const deletes: WriteRequest[] = (page.Items ?? []).map((it) => ({
        DeleteRequest: { Key: { pk: it.pk as AttributeValue, sk: it.sk as AttributeValue } },
      }));
      for (let i = 0; i < deletes.length; i += 25) await this.#batchDelete(deletes.slice(i, i + 25));
      start = page.LastEvaluatedKey;
    } while (start);
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    checkSlotIndex(index);
    const pk = this.#pk(key);
    await this.#call('removeSlot', () =>
      this.#client.send(
        new DeleteItemCommand({ TableName: this.table, Key: { pk: { S: pk }, sk: { N: String(index) } } }),
      ),
    );
  }

  /**
   * A Scan of the whole table filtered on `begins_with(pk, prefix)`: it reads
   * (and bills) every item in the table, ~1 read unit per 4 KB scanned. Fine
   * for status and prune, which an operator runs; the run path never lists.
   */
  async list(prefix: RecordKey): Promise<RecordKey[]> {
    checkKey(prefix);
    const base = prefix.join('/');
    const found = new Set<string>();
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#call('list', () =>
        this.#client.send(
          new ScanCommand({
            TableName: this.table,
            ProjectionExpression: 'pk',
            ConsistentRead: true,
            ...(base
              ? { FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': { S: base } } }
              : {}),
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const pk = item.pk?.S;
        // begins_with("ns/task") also matches "ns/task2/…"; keep whole segments only.
        if (pk !== undefined && (base === '' || pk === base || pk.startsWith(`${base}/`))) found.add(pk);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    const out: RecordKey[] = [];
    for (const pk of found) {
      const segs = pk.split('/');
      if (segs.every(isKeySegment)) out.push(segs);
    }
    return out;
  }

  /** `runonce init`: the table (on-demand, pk/sk), ACTIVE, with TTL where the endpoint has it. */
  async init(): Promise<string> {
    const r = await this.createTable();
    const ttl =
      r.ttl === 'enabled' ? 'TTL on expiresAt enabled' : 'TTL not supported by this endpoint (use runonce prune)';
    return r.created
      ? `created DynamoDB table ${r.table} (on-demand, pk S + sk N); ${ttl}`
      : `DynamoDB table ${r.table} exists and has runonce's keys; ${ttl}`;
  }

  describePermissions(): string {
    const policy = dynamoDbIamPolicy({ table: this.table });
    return `IAM policy for the DynamoDB backend (RunonceInit only for the role that runs \`runonce init\`):\n${JSON.stringify(policy, null, 2)}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.#client.destroy();
  }

  /** Unprocessed deletes are sent again on the throttled schedule, counted by core's `retry`. */
  async #batchDelete(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    const unprocessed = () =>
      Object.assign(new Error(`${pending.length} deletes left unprocessed`), { name: 'ThrottlingException' });
    await this.#call('remove (batch)', async () => {
      const out = await this.#client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }));
      pending = out.UnprocessedItems?.[this.table] ?? [];
      if (pending.length > 0) throw unprocessed();
    });
  }

  /**
   * Send, retried by core's `retry`: throttled requests (certainly not applied) up to `throttleRetries`
   * more times, network errors and 5xx (maybe applied; every call here is safe to repeat, create settles
   * it by token) up to `transientRetries` more times, on core's DynamoDB schedule.
   */
  async #call<T>(what: string, send: () => Promise<T>, onAmbiguous?: () => void): Promise<T> {
    if (this.#closed) throw new ValidationError('DynamoDB backend is closed');
    try {
      return await retry(send, {
        backoff: BACKOFF.dynamodb,
        clock: this.#clock,
        random: this.#random,
        classify: (e) => {
          const verdict = classify(e);
          if (verdict === 'maybeApplied') onAmbiguous?.();
          return verdict;
        },
        throttledTries: this.#throttleRetries,
        maybeAppliedTries: this.#transientRetries,
      });
    } catch (e) {
      // The mapped error keeps the SDK's as its cause: create tells "lost" by it.
      throw mapDynamoDbError(e, what, this.table);
    }
  }

  #pk(key: RecordKey): string {
    if (key.length === 0) throw new ValidationError('a record key needs at least one segment');
    checkKey(key);
    return key.join('/');
  }

  #expiry(key: RecordKey): { expiresAt?: AttributeValue } {
    if (this.#ttl === 0 || key.length < 3) return {};
    return { expiresAt: { N: String(Math.floor(Date.now() / 1000) + this.#ttl) } };
  }
}

function toSlot(pk: string, item: Record<string, AttributeValue>): Slot {
  const index = Number(item.sk?.N);
  const version = Number(item.version?.N);
  const text = item.value?.S;
  if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(version) || version < 1 || text === undefined)
    throw new CorruptStateError(`DynamoDB item ${pk} slot ${item.sk?.N} is not a runonce slot`);
  return { index, value: parseSlotValue(text, `DynamoDB item ${pk} slot ${index}`), version };
}
