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
}

export interface Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** All slots of the record, sorted by index. A slot created before the call is seen. */
  read(key: RecordKey): Promise<Slot[]>;
  /** Create the slot if absent. Of N concurrent creators exactly one wins. */
  create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult>;
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
}

export const keyToString = (key: RecordKey): string => key.join('/');
