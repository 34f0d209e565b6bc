import { randomBytes } from 'node:crypto';
import {
  DeleteParametersCommand,
  GetParameterHistoryCommand,
  type GetParameterHistoryCommandOutput,
  GetParametersByPathCommand,
  type GetParametersByPathCommandOutput,
  type Parameter,
  type ParameterHistory,
  PutParameterCommand,
  type PutParameterCommandOutput,
  SSMClient,
  type SSMClientConfig,
} from '@aws-sdk/client-ssm';
import {
  BACKOFF,
  type Backend,
  BackendUnavailableError,
  type Backoff,
  type Clock,
  CorruptStateError,
  type CreateResult,
  clockOf,
  type JsonObject,
  pauseBefore,
  type RecordKey,
  type RetryPolicy,
  type RetryVerdict,
  RunOnceError,
  retry,
  type Slot,
  ValidationError,
} from '@runonce/core';
import { classify, mapSsmError, sentMoreThanOnce } from './errors.js';
import { iamPolicy } from './iam.js';
import {
  decodeEnvelope,
  encodeCreated,
  encodeWritten,
  parseSlotName,
  recordPath,
  slotName,
  validatePrefix,
} from './layout.js';

export const DEFAULT_SSM_PREFIX = '/runonce';

/** Options that are plain JSON: what the CLI's config and a child process in a race can pass. */
export interface SsmBackendJsonOptions {
  /** Parameter name prefix. Default `/runonce`. */
  readonly prefix?: string | undefined;
  /** Default: the SDK's chain (`AWS_REGION`, profile). */
  readonly region?: string | undefined;
  /** Default: the SDK's chain (`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL`), else the regional endpoint. */
  readonly endpoint?: string | undefined;
  /** Default: the SDK's chain (environment, profile, instance role). Emulators take any. */
  readonly credentials?:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | undefined;
  /** SDK attempts per request, its own retries included. Default 3. */
  readonly maxAttempts?: number | undefined;
  /** TCP connect timeout. Default 2000 ms. */
  readonly connectTimeoutMs?: number | undefined;
  /** Socket inactivity timeout of one request. Default 3000 ms (a hung endpoint fails in about 10 s). */
  readonly requestTimeoutMs?: number | undefined;
  /** Extra rounds after throttling, with exponential backoff and full jitter. Default 10 (about 30 s in all). */
  readonly throttleRetries?: number | undefined;
  /**
   * Stop retrying throttled requests once one operation (a read, a create with
   * its history check, a write) has spent this long, whatever the rounds left.
   * Default 30 000 ms.
   */
  readonly throttleBudgetMs?: number | undefined;
  /** First backoff cap; doubles each round up to `throttleMaxDelayMs`. Default 200 ms. */
  readonly throttleBaseDelayMs?: number | undefined;
  /** Default 10 s. */
  readonly throttleMaxDelayMs?: number | undefined;
}

export interface SsmBackendOptions extends SsmBackendJsonOptions {
  /** Use this client (its region, credentials, middleware) instead of building one. `close()` leaves it open. */
  readonly client?: SSMClient | undefined;
  /**
   * Called once for every request this backend sends (its own throttling
   * retries included; the SDK's internal retries of one request are not).
   * The benchmark counts API calls with it. To count every HTTP attempt,
   * add a middleware to an injected client instead:
   * `client.middlewareStack.add((next, ctx) => (args) => { count(ctx.commandName); return next(args); }, { step: 'finalizeRequest', priority: 'low' })`.
   */
  readonly onCall?: ((command: string) => void) | undefined;
  /** Random source for backoff jitter. Default Math.random. */
  readonly random?: (() => number) | undefined;
  /** The clock for backoff pauses and the throttle budget. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Replaces only the clock's pauses (tests). */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Creator tokens. Default 16 random base64url characters. */
  readonly token?: (() => string) | undefined;
}

/** The client config the backend builds when none is injected (exported for `runonce doctor` and tests). */
export function ssmClientConfig(options: SsmBackendJsonOptions = {}): SSMClientConfig {
  const config: SSMClientConfig = {
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 2000,
      requestTimeout: options.requestTimeoutMs ?? 3000,
      // without it the Node handler only logs a warning and the request hangs on
      throwOnRequestTimeout: true,
    },
  };
  if (options.region) config.region = options.region;
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.credentials) config.credentials = { ...options.credentials };
  return config;
}

/**
 * The reference backend: SSM Parameter Store. Slot n of a record is the
 * String parameter `<prefix>/<segment>/…/<n>` (layout.ts says why that is
 * unambiguous), holding `{"c":"<creator token>","d":<value>}` after a create
 * and `{"d":<value>}` after a write.
 */
export class SsmBackend implements Backend {
  static readonly capabilities = { ttl: false, shared: true } as const;
  /** The least-privilege IAM policy for a prefix, as a JSON document (`runonce doctor` prints it). */
  static readonly iamPolicy = iamPolicy;

  readonly name = 'ssm';
  get location(): string {
    return `prefix ${this.prefix}`;
  }
  readonly capabilities = SsmBackend.capabilities;
  readonly prefix: string;
  readonly client: SSMClient;

  readonly #ownsClient: boolean;
  readonly #endpoint: string | undefined;
  readonly #onCall: ((command: string) => void) | undefined;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #token: () => string;
  readonly #throttleRetries: number;
  readonly #throttleBudgetMs: number;
  readonly #backoffPolicy: Backoff;
  /** Slots whose current value a losing create overwrote, resolved from history once per version. */
  readonly #resolved = new Map<string, { version: number; value: JsonObject }>();
  #closed = false;

  constructor(options: SsmBackendOptions = {}) {
    this.prefix = validatePrefix(options.prefix ?? DEFAULT_SSM_PREFIX);
    this.#ownsClient = options.client === undefined;
    this.client = options.client ?? new SSMClient(ssmClientConfig(options));
    this.#endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_SSM ?? process.env.AWS_ENDPOINT_URL;
    this.#onCall = options.onCall;
    this.#random = options.random ?? Math.random;
    this.#clock = clockOf(options);
    this.#token = options.token ?? (() => randomBytes(12).toString('base64url'));
    this.#throttleRetries = options.throttleRetries ?? 10;
    this.#throttleBudgetMs = options.throttleBudgetMs ?? 30_000;
    this.#backoffPolicy = {
      ...BACKOFF.ssm,
      firstMs: options.throttleBaseDelayMs ?? BACKOFF.ssm.firstMs,
      capMs: options.throttleMaxDelayMs ?? BACKOFF.ssm.capMs,
    };
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const path = recordPath(this.prefix, key);
    const until = this.#until();
    const params = await this.#byPath(path, false, until);
    const slots: Slot[] = [];
    for (const p of params) {
      const parsed = parseSlotName(this.prefix, p.Name ?? '');
      if (!parsed || parsed.key.length !== key.length) continue;
      slots.push(await this.#slotOf(p, parsed.index, until));
    }
    return slots.sort((a, b) => a.index - b.index);
  }

  /*
   * create: PutParameter Overwrite=false, then GetParameterHistory.
   *
   * AWS does not document that a conditional create is atomic, and moto (which
   * LocalStack's SSM also runs) checks and appends without a lock, so two
   * creates can both "succeed". The history settles it: the entry with the
   * lowest version (the first listed, when moto gives two entries version 1)
   * is the one winner, for the creators and for every reader.
   *
   *   A: put(c=A) ok ─ history [A] → won ─────────────── write {d} v2 ─ …
   *   B:   put(c=B) "ok" (raced A's put) ─ history [A,B] → lost, never writes
   *   C:     read: sees B's create envelope, v1 or v2
   *
   * B's put may leave B's value current. Two things keep readers on A:
   *  - the winner repairs at once: if its history ends with another creator's
   *    entry, it rewrites its own value as a write (rare: costs one put);
   *  - a reader that finds a create envelope above version 1 (a create can
   *    only ever make version 1, so a later create overwrote it) takes the
   *    newest history entry that is a write or the winner's create instead,
   *    once per version.
   * What is left is moto-only: B's thread stalls between its check and its
   * append for the whole of A's history round trip, so both entries are
   * version 1, A saw only [A] and did not repair. Readers then show B's value
   * until A's first heartbeat or terminal write; who runs is still decided
   * by the history (A runs, B waits), so nothing runs twice.
   *
   * A throttled put was rejected before it ran: after a jittered pause the
   * contender re-reads the record, and if the slot exists by then it has
   * lost without sending another put. When a fleet starts together, most
   * creates are throttled (PutParameter allows about 3/s); this turns their
   * retries into reads, which SSM allows about 40/s of. A put that might
   * have run (a 5xx, or the SDK sent it twice) and then finds the slot
   * asks the history whether it was ours.
   */
  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    this.#open();
    const name = slotName(this.prefix, key, index);
    const token = this.#token();
    const text = encodeCreated(token, value);
    const until = this.#until();
    let maybeApplied = false;
    const put = async (): Promise<CreateResult> => {
      let out: PutParameterCommandOutput;
      try {
        out = await this.#sendOnce<PutParameterCommandOutput>(
          new PutParameterCommand({ Name: name, Value: text, Type: 'String', Tier: 'Standard', Overwrite: false }),
        );
      } catch (e) {
        if (classify(e) !== 'exists') throw e;
        if (maybeApplied || sentMoreThanOnce(e)) return await this.#confirm(name, token, value, undefined, until);
        return { won: false };
      }
      // The put went through: finding out whether it won gets a budget of its own.
      return await this.#confirm(name, token, value, out.Version, this.#until());
    };
    try {
      return await retry(put, {
        ...this.#retryPolicy(until),
        classify: (e) => {
          const verdict = verdictOf(e);
          if (verdict === 'maybeApplied') maybeApplied = true;
          return verdict;
        },
        // A throttled put did not run: if the slot exists now, someone else made it (or, if an earlier
        // try may have run, the history says whose it is).
        beforeRetry: async (maybe) =>
          (await this.#slotExists(key, name, until))
            ? { result: maybe ? await this.#confirm(name, token, value, undefined, until) : { won: false } }
            : undefined,
      });
    } catch (e) {
      throw mapSsmError(e, `PutParameter ${name}`, this.#endpoint);
    }
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    this.#open();
    const name = slotName(this.prefix, key, index);
    return this.#put(name, encodeWritten(value), this.#until());
  }

  async remove(key: RecordKey): Promise<void> {
    const path = recordPath(this.prefix, key);
    const until = this.#until();
    const names = (await this.#byPath(path, false, until))
      .map((p) => p.Name ?? '')
      .filter((n) => parseSlotName(this.prefix, n)?.key.length === key.length);
    await this.#delete(names, until);
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    this.#open();
    await this.#delete([slotName(this.prefix, key, index)], this.#until());
  }

  async list(prefix: RecordKey): Promise<RecordKey[]> {
    const path = recordPath(this.prefix, prefix, true);
    const seen = new Map<string, RecordKey>();
    for (const p of await this.#byPath(path, true, this.#until())) {
      const parsed = parseSlotName(this.prefix, p.Name ?? '');
      if (!parsed || parsed.key.length < prefix.length) continue;
      seen.set(parsed.key.join('/'), parsed.key);
    }
    return [...seen.values()];
  }

  describePermissions(): string {
    return `IAM policy for the SSM backend:\n${JSON.stringify(iamPolicy(this.prefix), null, 2)}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolved.clear();
    if (this.#ownsClient) this.client.destroy();
  }

  // --- the protocol -----------------------------------------------------------

  /** After a put that succeeded (or may have): the first history entry names the winner. */
  async #confirm(
    name: string,
    token: string,
    value: JsonObject,
    putVersion: number | undefined,
    until: number,
  ): Promise<CreateResult> {
    let history: ParameterHistory[] = [];
    // History is read right after the put; should a store ever lag, ask again briefly rather than guess.
    for (let round = 0; round < 5; round++) {
      history = await this.#history(name, until);
      if (history.length > 0) break;
      await this.#backoff(round, until);
    }
    const first = oldest(history);
    const firstEnv = decodeEnvelope(first?.Value);
    if (!first || !firstEnv) {
      if (putVersion === undefined && history.length === 0) return { won: false }; // deleted meanwhile
      throw new BackendUnavailableError(
        `SSM history of ${name} ${first ? 'does not start with a runonce create' : 'is empty right after a create'}; ` +
          'cannot tell the winner',
      );
    }
    if (firstEnv.kind !== 'created' || firstEnv.token !== token) return { won: false };

    const last = newest(history);
    const lastEnv = decodeEnvelope(last?.Value);
    if (lastEnv?.kind === 'created' && lastEnv.token !== token) {
      // a losing create overwrote our value: put it back, as a write (see the timeline above)
      return { won: true, version: await this.#put(name, encodeWritten(value), until) };
    }
    return { won: true, version: Math.max(putVersion ?? 0, ...history.map((h) => h.Version ?? 0)) };
  }

  async #slotOf(p: Parameter, index: number, until: number): Promise<Slot> {
    const name = p.Name as string;
    const version = p.Version ?? 0;
    const env = decodeEnvelope(p.Value);
    if (!env) throw new CorruptStateError(`SSM parameter ${name} does not hold a runonce value; nothing is run on it`);
    if (env.kind === 'written' || version <= 1) return { index, value: env.data, version };

    // A create envelope above version 1: a losing create overwrote the winner.
    const cached = this.#resolved.get(name);
    if (cached?.version === version) return { index, value: cached.value, version };
    const history = await this.#history(name, until);
    const firstEnv = decodeEnvelope(oldest(history)?.Value);
    const winner = firstEnv?.kind === 'created' ? firstEnv.token : undefined;
    for (let i = history.length - 1; i >= 0; i--) {
      const h = decodeEnvelope(history[i]?.Value);
      if (h && (h.kind === 'written' || h.token === winner)) {
        if (this.#resolved.size > 1000) this.#resolved.clear();
        this.#resolved.set(name, { version, value: h.data });
        return { index, value: h.data, version };
      }
    }
    throw new CorruptStateError(`SSM parameter ${name}: its history names no winning create; nothing is run on it`);
  }

  // --- SSM calls --------------------------------------------------------------

  async #slotExists(key: RecordKey, name: string, until: number): Promise<boolean> {
    return (await this.#byPath(recordPath(this.prefix, key), false, until)).some((p) => p.Name === name);
  }

  async #put(name: string, text: string, until: number): Promise<number> {
    const out = await this.#send<PutParameterCommandOutput>(
      new PutParameterCommand({ Name: name, Value: text, Type: 'String', Tier: 'Standard', Overwrite: true }),
      `PutParameter ${name}`,
      until,
    );
    if (typeof out.Version !== 'number') throw new BackendUnavailableError(`SSM PutParameter ${name}: no version`);
    return out.Version;
  }

  /** Every page of GetParametersByPath (10 a page; a page may come back short with a NextToken). */
  async #byPath(path: string, recursive: boolean, until: number): Promise<Parameter[]> {
    this.#open();
    const out: Parameter[] = [];
    let token: string | undefined;
    do {
      const page: GetParametersByPathCommandOutput = await this.#send(
        new GetParametersByPathCommand({ Path: path, Recursive: recursive, MaxResults: 10, NextToken: token }),
        `GetParametersByPath ${path}`,
        until,
      );
      out.push(...(page.Parameters ?? []));
      token = page.NextToken;
    } while (token);
    return out;
  }

  /** The whole history (at most 100 versions: two pages). */
  async #history(name: string, until: number): Promise<ParameterHistory[]> {
    const out: ParameterHistory[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send<GetParameterHistoryCommandOutput | undefined>(
        new GetParameterHistoryCommand({ Name: name, MaxResults: 50, NextToken: token }),
        `GetParameterHistory ${name}`,
        until,
        () => undefined, // ParameterNotFound: deleted meanwhile, no history
      );
      out.push(...(page?.Parameters ?? []));
      token = page?.NextToken;
    } while (token);
    return out;
  }

  async #delete(names: readonly string[], until: number): Promise<void> {
    for (let i = 0; i < names.length; i += 10) {
      const batch = names.slice(i, i + 10);
      // names that are already gone come back in InvalidParameters: that is fine
      await this.#send(new DeleteParametersCommand({ Names: batch }), `DeleteParameters ${batch[0]}…`, until);
    }
  }

  /** Sends, retried as core's `retry` decides from `verdictOf`; maps failures to the core's errors. */
  async #send<T>(command: SsmCommand, what: string, until: number, onNotFound?: () => T): Promise<T> {
    try {
      return await retry(async () => {
        try {
          return await this.#sendOnce<T>(command);
        } catch (e) {
          if (onNotFound && classify(e) === 'notFound') return onNotFound();
          throw e;
        }
      }, this.#retryPolicy(until));
    } catch (e) {
      throw mapSsmError(e, what, this.#endpoint);
    }
  }

  /** Core's retry with SSM's schedule and budgets: `throttleRetries` more tries, none past `until`. */
  #retryPolicy(until: number): RetryPolicy<never> {
    return {
      backoff: this.#backoffPolicy,
      clock: this.#clock,
      random: this.#random,
      classify: verdictOf,
      throttledTries: this.#throttleRetries,
      maybeAppliedTries: this.#throttleRetries,
      until,
    };
  }

  async #sendOnce<T>(command: SsmCommand): Promise<T> {
    this.#open();
    this.#onCall?.(command.constructor.name.replace(/Command$/, ''));
    // biome-ignore lint/suspicious/noExplicitAny: one send for the few command types used here
    return (await this.client.send(command as any)) as T;
  }

  /** Core's SSM schedule (full jitter, doubling), never past `until`. */
  #backoff(round: number, until: number): Promise<void> {
    return pauseBefore(this.#backoffPolicy, round, { clock: this.#clock, random: this.#random, until });
  }

  /**
   * When one operation stops retrying throttled requests. The operation's
   * nested calls (a create's existence check and history, a read's history
   * lookups) share it, so their retries cannot multiply.
   */
  #until(): number {
    return this.#clock.monotonic() + this.#throttleBudgetMs;
  }

  #open(): void {
    if (this.#closed) throw new ValidationError('the SSM backend is closed');
  }
}

type SsmCommand =
  | PutParameterCommand
  | GetParametersByPathCommand
  | GetParameterHistoryCommand
  | DeleteParametersCommand;

/**
 * All SSM decides of a failure: throttling did not run; an HTTP 503 (SSM's "slow down") may have.
 * Anything else, and a runonce error from a nested call, is an answer.
 */
function verdictOf(e: unknown): RetryVerdict {
  if (RunOnceError.is(e)) return 'final';
  if (classify(e) === 'throttled') return 'throttled';
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 503
    ? 'maybeApplied'
    : 'final';
}

/** Lowest version; among equal versions (moto's race) the one listed first. */
function oldest(history: readonly ParameterHistory[]): ParameterHistory | undefined {
  let best: ParameterHistory | undefined;
  for (const h of history) if (!best || (h.Version ?? 0) < (best.Version ?? 0)) best = h;
  return best;
}

/** Highest version; among equal versions the one listed last. */
function newest(history: readonly ParameterHistory[]): ParameterHistory | undefined {
  let best: ParameterHistory | undefined;
  for (const h of history) if (!best || (h.Version ?? 0) >= (best.Version ?? 0)) best = h;
  return best;
}
