import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import {
  BACKOFF,
  type Backend,
  BackendUnavailableError,
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
  type RetryVerdict,
  RunOnceError,
  retry,
  type Slot,
  sentMoreThanOnce,
  ValidationError,
} from '@runonce/core';
import { classify, mapS3Error } from './errors.js';
import { s3IamPolicy } from './iam.js';

/** Options that are plain JSON: what the CLI's config and a child process in a race can pass. */
export interface S3BackendJsonOptions {
  /** The bucket (it must exist; `runonce init` checks it). */
  readonly bucket: string;
  /** Every object's key starts with `<prefix>/`. Default `runonce`. */
  readonly prefix?: string | undefined;
  /** Default: the SDK's chain (`AWS_REGION`, profile). */
  readonly region?: string | undefined;
  /** Default: the SDK's chain (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), else the regional endpoint. */
  readonly endpoint?: string | undefined;
  /** Path-style requests (`endpoint/bucket/key`), for S3-compatible stores and emulators. Default false. */
  readonly forcePathStyle?: boolean | undefined;
  /** Default: the SDK's chain (environment, profile, instance role). */
  readonly credentials?:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | undefined;
  /** SDK attempts per request, its own retries included. Default 3. */
  readonly maxAttempts?: number | undefined;
  /** TCP connect timeout. Default 2000 ms. */
  readonly connectTimeoutMs?: number | undefined;
  /** Socket inactivity timeout of one request. Default 5000 ms. */
  readonly requestTimeoutMs?: number | undefined;
  /** More tries after `SlowDown` (S3's throttling) or a conditional-write conflict. Default 8. */
  readonly throttleRetries?: number | undefined;
}

export interface S3BackendOptions extends S3BackendJsonOptions {
  /** Use this client instead of building one. `close()` leaves it open. */
  readonly client?: S3Client | undefined;
  readonly random?: (() => number) | undefined;
  readonly clock?: Clock | undefined;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Creator tokens. Default 16 random base64url characters. */
  readonly token?: (() => string) | undefined;
}

/** The client config the backend builds when none is injected. */
export function s3ClientConfig(options: Partial<S3BackendJsonOptions> = {}): S3ClientConfig {
  const config: S3ClientConfig = {
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 2000,
      requestTimeout: options.requestTimeoutMs ?? 5000,
      throwOnRequestTimeout: true,
    },
    // Checksums on every PutObject would add a header some S3-compatible stores refuse; none are needed.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (options.region) config.region = options.region;
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.forcePathStyle) config.forcePathStyle = true;
  if (options.credentials) config.credentials = { ...options.credentials };
  return config;
}

/** What an object holds: the slot's value, its version, and who created it (to tell our own create). */
interface Body {
  readonly v: number;
  readonly by: string;
  readonly value: JsonObject;
}

const PREFIX = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SLOT = /^[1-9]\d*$/;

/**
 * S3 backend: one object per slot, `<prefix>/<ns>/<task>/<scope>/<n>`, whose body is
 * `{ v, by, value }` (the version counter, the creator's token, the slot's JSON).
 *
 * Create is `PutObject` with `If-None-Match: *`: S3 documents conditional writes as atomic, so of N
 * concurrent creators one gets 200 and the rest 412 (or 409 while another conditional write is in
 * flight: retried). Write reads the object's ETag and version and puts version + 1 with `If-Match`,
 * so versions increase strictly even if two writers meet (one gets 412 and goes again). Reads are
 * `ListObjectsV2` with `Delimiter: /` (the slots of one record, not the records below it) and a
 * `GetObject` per slot; both are strongly consistent.
 */
export class S3Backend implements Backend {
  readonly name = 's3';
  readonly capabilities = { ttl: false, shared: true } as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  get location(): string {
    return `bucket ${this.bucket}, prefix ${this.prefix}/`;
  }
  readonly #ownsClient: boolean;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #token: () => string;
  readonly #throttleRetries: number;
  #closed = false;

  constructor(options: S3BackendOptions) {
    if (typeof options?.bucket !== 'string' || !BUCKET.test(options.bucket))
      throw new ValidationError(
        `S3 bucket must be 3–63 lowercase letters, digits, dots and hyphens, got ${JSON.stringify(options?.bucket)}`,
      );
    const prefix = (options.prefix ?? 'runonce').replace(/^\/+|\/+$/g, '');
    if (!PREFIX.test(prefix))
      throw new ValidationError(`S3 prefix must be segments of letters, digits and _.- joined by /, got ${prefix}`);
    this.bucket = options.bucket;
    this.prefix = prefix;
    this.#ownsClient = options.client === undefined;
    this.client = options.client ?? new S3Client(s3ClientConfig(options));
    this.#random = options.random ?? Math.random;
    this.#clock = clockOf(options);
    this.#token = options.token ?? (() => randomBytes(12).toString('base64url'));
    this.#throttleRetries = options.throttleRetries ?? 8;
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const dir = this.#dir(key);
    const names: string[] = [];
    for await (const page of this.#pages(dir, '/')) {
      for (const o of page.Contents ?? []) {
        const last = o.Key?.slice(dir.length) ?? '';
        if (SLOT.test(last)) names.push(last);
        else throw new CorruptStateError(`S3 object ${o.Key} is not a runonce slot; nothing is run on it`);
      }
    }
    const slots = await Promise.all(
      names.map(async (n) => {
        const got = await this.#get(`${dir}${n}`);
        return got && { index: Number(n), value: got.body.value, version: got.body.v };
      }),
    );
    // a slot listed and then removed before its GET is gone: as if listed a moment later
    return slots.filter((s): s is Slot => s !== undefined).sort((a, b) => a.index - b.index);
  }

  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const name = `${this.#dir(key)}${index}`;
    const by = this.#token();
    let maybeApplied = false;
    try {
      await this.#send(
        'create',
        () => this.client.send(this.#put(name, { v: 1, by, value }, { IfNoneMatch: '*' })),
        (verdict) => {
          if (verdict === 'maybeApplied') maybeApplied = true;
        },
      );
      return { won: true, version: 1 };
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
      // 412: the object exists. If an earlier try of ours may have gone through, it may be ours.
      if (maybeApplied || sentMoreThanOnce((e as RunOnceError).cause)) {
        const got = await this.#get(name);
        if (got?.body.by === by) return { won: true, version: got.body.v };
      }
      return { won: false };
    }
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const name = `${this.#dir(key)}${index}`;
    // Read the ETag, put version + 1 if it is unchanged; a writer that lost the race goes again.
    for (let round = 0; round < 10; round++) {
      const current = await this.#get(name);
      const v = (current?.body.v ?? 0) + 1;
      const condition = current ? { IfMatch: current.etag } : { IfNoneMatch: '*' };
      try {
        await this.#send('write', () =>
          this.client.send(this.#put(name, { v, by: current?.body.by ?? this.#token(), value }, condition)),
        );
        return v;
      } catch (e) {
        if (!isPreconditionFailed(e)) throw e;
      }
    }
    throw new BackendUnavailableError(`S3 write of ${name}: another writer changed it 10 times in a row`);
  }

  async remove(key: RecordKey): Promise<void> {
    const dir = this.#dir(key);
    for await (const page of this.#pages(dir, '/')) {
      const keys = (page.Contents ?? []).filter((o) => SLOT.test(o.Key?.slice(dir.length) ?? ''));
      if (keys.length === 0) continue;
      const out = await this.#send('remove', () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.map((o) => ({ Key: o.Key as string })), Quiet: true },
          }),
        ),
      );
      if (out.Errors?.length) {
        const first = out.Errors[0];
        throw new BackendUnavailableError(`S3 could not delete ${first?.Key}: ${first?.Code} ${first?.Message}`);
      }
    }
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    checkSlotIndex(index);
    const name = `${this.#dir(key)}${index}`;
    await this.#send('removeSlot', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: name })));
  }

  async list(prefix: RecordKey): Promise<RecordKey[]> {
    checkKey(prefix);
    const base = prefix.length === 0 ? `${this.prefix}/` : this.#dir(prefix);
    const seen = new Map<string, RecordKey>();
    for await (const page of this.#pages(base)) {
      for (const o of page.Contents ?? []) {
        const segments = (o.Key ?? '').slice(this.prefix.length + 1).split('/');
        const slot = segments.pop();
        if (!slot || !SLOT.test(slot) || segments.length === 0 || !segments.every(isKeySegment)) continue;
        seen.set(segments.join('/'), segments);
      }
    }
    return [...seen.values()];
  }

  /**
   * Checks the bucket answers and honours conditional writes (a second `If-None-Match: *` put of one
   * key must get 412): an S3-compatible store that ignored the header would let two instances claim.
   */
  async init(): Promise<string> {
    await this.#send('init (HeadBucket)', () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
    const probe = `${this.prefix}/_init/${this.#token()}`;
    const body = { v: 1, by: 'init', value: {} };
    await this.#send('init (probe)', () => this.client.send(this.#put(probe, body, { IfNoneMatch: '*' })));
    let refused = false;
    try {
      await this.#send('init (probe)', () => this.client.send(this.#put(probe, body, { IfNoneMatch: '*' })));
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
      refused = true;
    }
    await this.#send('init (probe)', () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probe })),
    );
    if (!refused)
      throw new ValidationError(
        `S3 bucket ${this.bucket} accepted a second If-None-Match: * put of one key: this store does not do ` +
          'conditional writes, so it cannot decide who runs. Use AWS S3 or a store that implements them',
      );
    return `S3 bucket ${this.bucket} answers and honours conditional writes (If-None-Match); nothing to create`;
  }

  describePermissions(): string {
    return `IAM policy for the S3 backend:\n${JSON.stringify(s3IamPolicy(this.bucket, this.prefix), null, 2)}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.client.destroy();
  }

  // --- S3 calls ---------------------------------------------------------------

  #dir(key: RecordKey): string {
    if (key.length === 0) throw new ValidationError('a record key needs at least one segment');
    checkKey(key);
    return `${this.prefix}/${key.join('/')}/`;
  }

  #put(name: string, body: Body, condition: { IfNoneMatch: string } | { IfMatch: string }): PutObjectCommand {
    return new PutObjectCommand({
      Bucket: this.bucket,
      Key: name,
      Body: JSON.stringify(body),
      ContentType: 'application/json',
      ...condition,
    });
  }

  async #get(name: string): Promise<{ body: Body; etag: string } | undefined> {
    let out: { text: string; etag: string } | undefined;
    try {
      out = await this.#send('read', async () => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: name }));
        return { text: (await r.Body?.transformToString('utf8')) ?? '', etag: r.ETag ?? '' };
      });
    } catch (e) {
      if (RunOnceError.is(e) && (e.cause as { name?: string })?.name === 'NoSuchKey') return undefined;
      throw e;
    }
    const parsed = parseSlotValue(out.text, `S3 object ${name}`) as unknown as Body;
    if (!Number.isSafeInteger(parsed.v) || parsed.v < 1 || typeof parsed.value !== 'object' || parsed.value === null)
      throw new CorruptStateError(`S3 object ${name} is not a runonce slot; nothing is run on it`);
    return { body: parsed, etag: out.etag };
  }

  async *#pages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.#send('list', () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            ...(delimiter ? { Delimiter: delimiter } : {}),
          }),
        ),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** One call under core's retry (S3's schedule); failures mapped to core's errors, the SDK's as cause. */
  async #send<T>(what: string, op: () => Promise<T>, onVerdict?: (v: RetryVerdict) => void): Promise<T> {
    if (this.#closed) throw new ValidationError('S3 backend is closed');
    try {
      return await retry(op, {
        backoff: BACKOFF.s3,
        clock: this.#clock,
        random: this.#random,
        classify: (e) => {
          const verdict = classify(e);
          onVerdict?.(verdict);
          return verdict;
        },
        throttledTries: this.#throttleRetries,
        maybeAppliedTries: 2,
      });
    } catch (e) {
      throw mapS3Error(e, `${what} in bucket ${this.bucket}`, this.bucket);
    }
  }
}

function isPreconditionFailed(e: unknown): boolean {
  const cause = (RunOnceError.is(e) ? e.cause : e) as { name?: string; $metadata?: { httpStatusCode?: number } };
  return cause?.name === 'PreconditionFailed' || cause?.$metadata?.httpStatusCode === 412;
}
