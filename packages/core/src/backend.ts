import { CorruptStateError, ValidationError } from './errors.js';

/**
 * The backend interface: a small atomic store. Core owns every decision
 * (claim, staleness, takeover, retry); a backend only keeps numbered slots.
 *
 * A record is addressed by a key of path segments. Core builds these keys:
 *   [namespace, task, scope]   the attempts of one scope (slot n = attempt n)
 *   [namespace, task]          the generation pointer (slot n = generation n)
 *   [namespace, '_lock', name] the holders of one lock (slot n = fencing token n)
 * Every segment matches `[A-Za-z0-9_.-]{1,128}`; task and namespace start with
 * a letter or digit, so `_lock` can never be a task. A backend must keep the
 * record [ns, task] apart from the records below it.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type RecordKey = readonly string[];

export interface Slot {
  readonly index: number;
  readonly value: JsonObject;
  /** Increases strictly on every write of this slot. */
  readonly version: number;
}

export type CreateResult = { readonly won: true; readonly version: number } | { readonly won: false };

export interface BackendCapabilities {
  /** The store can expire old records by itself (Redis EXPIRE, DynamoDB TTL). */
  readonly ttl: boolean;
  /** Several processes (or hosts) can share this store. False for memory. */
  readonly shared: boolean;
  /**
   * Calls on this backend object reach the store in the order they are made, each handed to its one
   * connection before the call returns (no pool): a later call sees an earlier write without awaiting
   * it, and, while the connection is up, a write already made survives the process exiting. True for Redis and memory; absent means
   * false. withLock then sends its release without waiting for the answer.
   */
  readonly ordered?: boolean;
}

export interface Backend {
  readonly name: string;
  /** Optional: where this backend keeps its records, for humans (`dir /var/lib/x`, `table runonce`); no secrets. */
  readonly location?: string;
  readonly capabilities: BackendCapabilities;
  /** All slots of the record, sorted by index. A slot created before the call is seen. */
  read(key: RecordKey): Promise<Slot[]>;
  /** Create the slot if absent. Of N concurrent creators exactly one wins. */
  create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult>;
  /**
   * Optional: create slot `index` only if the record's highest slot is
   * `index - 1` (or the record is empty and `index` is 1), in one atomic step,
   * and in the same step forget slots at or below `index - keep`. Locks use it
   * to take the next fencing token without reading first, and without a
   * separate call to prune old holders. Without it, core reads, creates and
   * prunes with the primitives above.
   */
  createNext?(key: RecordKey, index: number, value: JsonObject, keep: number): Promise<CreateResult>;
  /** Overwrite an existing slot (owner only); returns the new, strictly greater version. */
  write(key: RecordKey, index: number, value: JsonObject): Promise<number>;
  /** Delete the whole record. Idempotent. */
  remove(key: RecordKey): Promise<void>;
  /** Delete one slot. Idempotent. */
  removeSlot(key: RecordKey, index: number): Promise<void>;
  /** Keys of the records (with at least one slot) under a prefix, each once, in any order. */
  list(prefix: RecordKey): Promise<RecordKey[]>;
  /** Release connections. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: create what the store needs before first use (a table, a
   * directory), idempotently; returns one line saying what was done.
   * `runonce init` calls it; without it there is nothing to create.
   */
  init?(): Promise<string>;
  /**
   * Optional: resolves at the first change of the record after the call (a create, write or removal,
   * by anyone), and at once when `signal` aborts. A hint, never the truth: a waiter wakes on it or on its
   * jittered poll, whichever comes first, and always re-reads; a notification that is lost only delays
   * it to the next poll. Rejects when the store cannot notify now (the waiter then only polls).
   *
   * With `slot`, the watcher cares only about that slot (a lock's queued waiter and the slot ahead of
   * it): a backend that knows which slot changed (Redis) may sleep through changes of other slots; one
   * that does not (PostgreSQL, file) wakes on any change of the record, which is correct, only busier.
   */
  watch?(key: RecordKey, signal: AbortSignal, slot?: number): Promise<void>;
  /**
   * Optional: the permissions this backend needs, as text to paste (an IAM
   * policy, an ACL rule). `runonce doctor` prints it.
   */
  describePermissions?(): string;
}

/**
 * The plugin contract: every backend package (built in or third-party) exports
 * an inversify ContainerModule that binds its factory under this identifier;
 * the CLI loads the package and asks for it, with no code per backend
 * (docs/backends/custom.md).
 */
export const BackendFactoryId: symbol = Symbol.for('runonce.BackendFactory');

/**
 * What the CLI hands a backend factory: its settings resolved once (flag >
 * environment > config file > default: `ssmPrefix`, `table`, `redisUrl`,
 * `dir`, …), plus the config file's object for the backend under its name
 * (`ssm`, `dynamodb`, `redis`, or `backendOptions` for a third-party one). A
 * factory reads nothing from the environment itself.
 */
export type BackendFactoryConfig = Readonly<Record<string, unknown>>;

/** A backend package's factory, bound under `BackendFactoryId`. */
export type BackendFactory<C = BackendFactoryConfig> = (config: C) => Backend | Promise<Backend>;

export const keyToString = (key: RecordKey): string => key.join('/');

/** What every key segment matches; backends may rely on it for their own encodings. */
export const KEY_SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;

export const isKeySegment = (segment: unknown): segment is string =>
  typeof segment === 'string' && KEY_SEGMENT.test(segment);

/** Throws a ValidationError for a key (or prefix) with a segment outside KEY_SEGMENT. */
export function checkKey(key: RecordKey): void {
  for (const segment of key) {
    if (!isKeySegment(segment)) {
      throw new ValidationError(`key segment must match [A-Za-z0-9_.-]{1,128}, got ${JSON.stringify(segment)}`);
    }
  }
}

/** Throws a ValidationError unless the slot index is a positive integer. */
export function checkSlotIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 1) {
    throw new ValidationError(`slot index must be a positive integer, got ${index}`);
  }
}

/** A stored slot value back as an object; anything else is CorruptStateError naming `where`. */
export function parseSlotValue(text: string, where: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CorruptStateError(`${where} is not JSON`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptStateError(`${where} is not a JSON object`);
  }
  return value as JsonObject;
}
