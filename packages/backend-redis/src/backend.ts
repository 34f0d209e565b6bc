import { readFileSync } from 'node:fs';
import {
  type Backend,
  ConfigError,
  CorruptStateError,
  type CreateResult,
  checkKey,
  checkSlotIndex,
  isKeySegment,
  type JsonObject,
  parseSlotValue,
  type RecordKey,
  type Slot,
  ValidationError,
  Watchers,
} from '@runonce/core';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { redisAcl } from './acl.js';
import { mapRedisError } from './errors.js';
import { parseRedisUrl, redact } from './url.js';

export interface RedisBackendOptions {
  /** `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Every key starts with `<keyPrefix>:`. Default `runonce`. Give the ACL the same prefix (`redisAcl`). */
  keyPrefix?: string;
  /**
   * Expire scope and lock records this long after their last write (EXPIRE,
   * set again on every create and write). The generation pointer `[ns, task]`
   * never expires: losing it would silently send every instance back to scope
   * `initial`. Pick a value far above the time a scope stays current, or a
   * scale-out after the record expired runs the task again. Default: no expiry.
   */
  ttlSeconds?: number;
  /**
   * PEM file of the CA that signed the server's certificate, for `rediss://`
   * with a private CA (the system CAs and `NODE_EXTRA_CA_CERTS` are trusted anyway).
   */
  tlsCaFile?: string;
  /**
   * Redis Cluster (ElastiCache cluster mode, MemoryDB): some of its nodes as `host:port`, a
   * comma-separated string or a list; ioredis finds the rest and follows MOVED and ASK. User, password
   * and TLS come from `url` when it is given. Each record is one key, so every script touches one slot.
   */
  cluster?: string | readonly string[];
  /** Give up connecting after this long. Default 3000. */
  connectTimeoutMs?: number;
  /** Give up on a command that got no reply after this long (it may still have run). Default 5000. */
  commandTimeoutMs?: number;
}

/** What ioredis gets when the backend makes its own client. */
export function redisClientOptions(options: RedisBackendOptions = {}): RedisOptions {
  const conn = parseRedisUrl(options.url ?? 'redis://127.0.0.1:6379');
  const isIp = /^[\d.]+$|:/.test(conn.host);
  return {
    host: conn.host,
    port: conn.port,
    username: conn.username,
    password: conn.password,
    db: conn.db,
    ...(conn.tls
      ? {
          tls: {
            ...(isIp ? {} : { servername: conn.host }),
            ...(options.tlsCaFile ? { ca: readCa(options.tlsCaFile) } : {}),
          },
        }
      : {}),
    connectionName: 'runonce',
    lazyConnect: true,
    // A lock must never wait silently on a dead server. Commands issued while
    // (re)connecting wait in the offline queue until the next connection
    // attempt fails (maxRetriesPerRequest 0) or commandTimeout passes; a
    // command in flight when the connection drops fails rather than being
    // sent again, since a resent create would report "lost" for a slot this
    // very call had created.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: options.connectTimeoutMs ?? 3000,
    commandTimeout: options.commandTimeoutMs ?? 5000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    // CLIENT SETINFO would need one more ACL permission for no benefit.
    disableClientInfo: true,
  };
}

// KEYS[1] record; ARGV: slot, value, ttl seconds (0 = none). 1 = created, 0 = the slot exists.
const CREATE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. ':v', 1)
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

// KEYS[1] record; ARGV: slot, value, ttl seconds. Returns the slot's new version.
const WRITE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':v', 1)
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return v
`;

// KEYS[1] record; ARGV: slot n, value, ttl seconds, keep. Creates slot n only if the
// highest slot is n - 1 (none for n = 1), and drops slots at or below n - keep. 1 = created.
const CREATE_NEXT = `
local n = tonumber(ARGV[1])
local fields = redis.call('HKEYS', KEYS[1])
local top = 0
for _, f in ipairs(fields) do
  local i = tonumber(f)
  if i and i > top then top = i end
end
if top ~= n - 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. ':v', 1)
local floor = n - tonumber(ARGV[4])
for _, f in ipairs(fields) do
  local i = tonumber(f)
  if i and i <= floor then redis.call('HDEL', KEYS[1], f, f .. ':v') end
end
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

interface Scripted {
  runonceCreateNext(key: string, slot: string, value: string, ttl: string, keep: string): Promise<number>;
  runonceCreate(key: string, slot: string, value: string, ttl: string): Promise<number>;
  runonceWrite(key: string, slot: string, value: string, ttl: string): Promise<number>;
}

const SLOT_FIELD = /^[1-9]\d*$/;
const VERSION_FIELD = /^([1-9]\d*):v$/;

type ScriptedRedis = (Redis | Cluster) & Scripted;

/** `host:port,…` as ioredis's startup nodes; anything else is a ValidationError. */
export function parseClusterNodes(spec: string | readonly string[]): { host: string; port: number }[] {
  const items = (typeof spec === 'string' ? spec.split(',') : [...spec]).map((n) => n.trim()).filter(Boolean);
  if (items.length === 0) throw new ValidationError('a Redis Cluster needs at least one node as host:port');
  return items.map((item) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535)
      throw new ValidationError(`a Redis Cluster node must be host:port, got ${JSON.stringify(item)}`);
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
  });
}

/** What ioredis's Cluster client gets: each node connection fails fast as the single-node client does. */
export function redisClusterOptions(options: RedisBackendOptions = {}): ClusterOptions {
  const { host: _h, port: _p, db, lazyConnect: _l, retryStrategy: _r, ...node } = redisClientOptions(options);
  if (db) throw new ValidationError('Redis Cluster has only database 0; remove the /db from the URL');
  return {
    redisOptions: node,
    lazyConnect: true,
    enableOfflineQueue: true,
    scaleReads: 'master',
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: options.connectTimeoutMs ?? 3000,
    clusterRetryStrategy: (times: number) => (times > 3 ? null : Math.min(100 * 2 ** times, 2000)),
  };
}

/**
 * Redis backend: one hash per record, two fields per slot.
 *
 *   key   runonce:<ns>:<task>:<scope>      (':' never occurs in a segment, so
 *                                            [ns, task] and [ns, task, 1] differ)
 *   field "3"    the JSON value of slot 3
 *   field "3:v"  its version
 *
 * Create, createNext and write are Lua scripts, so each is one atomic step on
 * the server: of N concurrent creators exactly one finds the field absent.
 */
export class RedisBackend implements Backend {
  readonly name = 'redis';
  /** The URL without its password. */
  get location(): string {
    return `url ${this.#where}`;
  }
  // one connection (a cluster: one per node, and a record lives on one): commands go out in order, at once
  readonly capabilities = { ttl: true, shared: true, ordered: true } as const;
  readonly keyPrefix: string;
  readonly #client: ScriptedRedis;
  readonly #ownsClient: boolean;
  readonly #ttl: number;
  readonly #where: string;
  #closed = false;
  #lastError: Error | undefined;
  /** The second connection waiters' watches share (subscriber mode), made on the first watch. */
  #subscriber: Redis | Cluster | undefined;
  readonly #watchers = new Watchers();

  /** Give `client` to share a connection you manage (close() then leaves it open); it needs the options of `redisClientOptions` to fail fast. */
  constructor(options: RedisBackendOptions = {}, client?: Redis | Cluster) {
    this.keyPrefix = options.keyPrefix ?? 'runonce';
    if (!/^[A-Za-z0-9_.{}-][A-Za-z0-9_.:{}/-]*$/.test(this.keyPrefix))
      throw new ValidationError(`Redis key prefix must be letters, digits and _.-:/{}; got ${this.keyPrefix}`);
    const ttl = options.ttlSeconds ?? 0;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      throw new ValidationError(`ttlSeconds must be a whole number of seconds, got ${ttl}`);
    this.#ttl = ttl;
    this.#ownsClient = client === undefined;
    let redis: Redis | Cluster;
    if (options.cluster !== undefined) {
      const nodes = parseClusterNodes(options.cluster);
      this.#where = `cluster ${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
      redis = client ?? new Cluster(nodes, redisClusterOptions(options));
    } else {
      this.#where = redact(options.url ?? 'redis://127.0.0.1:6379');
      redis = client ?? new Redis(redisClientOptions(options));
    }
    // Without a listener ioredis prints every reconnect failure; keep the last for messages.
    redis.on('error', (e: Error) => {
      this.#lastError = e;
    });
    redis.on('ready', () => {
      this.#lastError = undefined;
    });
    redis.defineCommand('runonceCreate', { lua: CREATE, numberOfKeys: 1 });
    redis.defineCommand('runonceWrite', { lua: WRITE, numberOfKeys: 1 });
    redis.defineCommand('runonceCreateNext', { lua: CREATE_NEXT, numberOfKeys: 1 });
    this.#client = redis as ScriptedRedis;
  }

  /** The ioredis client (a Cluster in cluster mode), for health checks (doctor) and tests. */
  get client(): Redis | Cluster {
    return this.#client;
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const id = this.#key(key);
    const hash = await this.#call('read', () => this.#client.hgetall(id));
    const slots: Slot[] = [];
    for (const [field, text] of Object.entries(hash)) {
      if (VERSION_FIELD.test(field)) continue;
      if (!SLOT_FIELD.test(field)) throw new CorruptStateError(`Redis hash ${id} has a foreign field ${field}`);
      const version = Number(hash[`${field}:v`]);
      if (!Number.isSafeInteger(version) || version < 1)
        throw new CorruptStateError(`Redis hash ${id} slot ${field} has no valid version`);
      const value = parseSlotValue(text, `Redis hash ${id} slot ${field}`);
      slots.push({ index: Number(field), value, version });
    }
    return slots.sort((a, b) => a.index - b.index);
  }

  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const id = this.#key(key);
    const created = await this.#call('create', () =>
      this.#client.runonceCreate(id, String(index), JSON.stringify(value), this.#ttlFor(key)),
    );
    return created === 1 ? { won: true, version: 1 } : { won: false };
  }

  async createNext(key: RecordKey, index: number, value: JsonObject, keep: number): Promise<CreateResult> {
    checkSlotIndex(index);
    if (!Number.isSafeInteger(keep) || keep < 1)
      throw new ValidationError(`keep must be a whole number >= 1, got ${keep}`);
    const id = this.#key(key);
    const created = await this.#call('create', () =>
      this.#client.runonceCreateNext(id, String(index), JSON.stringify(value), this.#ttlFor(key), String(keep)),
    );
    return created === 1 ? { won: true, version: 1 } : { won: false };
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const id = this.#key(key);
    return Number(
      await this.#call('write', () =>
        this.#client.runonceWrite(id, String(index), JSON.stringify(value), this.#ttlFor(key)),
      ),
    );
  }

  async remove(key: RecordKey): Promise<void> {
    const id = this.#key(key);
    await this.#call('remove', () => this.#client.del(id));
    await this.#call('remove', () => this.#client.publish(id, 'removed'));
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    checkSlotIndex(index);
    const id = this.#key(key);
    await this.#call('removeSlot', () => this.#client.hdel(id, String(index), `${index}:v`));
    await this.#call('removeSlot', () => this.#client.publish(id, 'removed'));
  }

  /**
   * Every create and write PUBLISHes the slot on the record's own name (inside its script); a watch
   * SUBSCRIBEs to it on a second connection that all watches of this backend share. Resolves on the
   * next message (with `slot`, the next about that slot, or a removal); rejects if that connection cannot
   * subscribe (the waiter then polls). The message is the slot index, so a lock's queued waiter sleeps
   * through every change but the one of the slot ahead of it.
   */
  watch(key: RecordKey, signal: AbortSignal, slot?: number): Promise<void> {
    const id = this.#key(key);
    if (this.#closed) return Promise.resolve();
    const w = this.#watchers.add(id, signal, slot);
    if (w.first)
      this.#subscriberClient()
        .subscribe(id)
        .catch((e: unknown) => w.fail(mapRedisError(e, `watch at ${this.#where}`)));
    // once this watch is over (woken, aborted, failed), drop the channel if nobody came back for it
    w.promise.then(
      () => this.#unsubscribeLater(id),
      () => this.#unsubscribeLater(id),
    );
    return w.promise;
  }

  #subscriberClient(): Redis | Cluster {
    if (!this.#subscriber) {
      // duplicate() has one signature per client class; either gives a client like this one
      const sub: Redis | Cluster =
        this.#client instanceof Cluster ? this.#client.duplicate() : (this.#client as Redis).duplicate();
      sub.on('error', () => {}); // the polls go on; the next watch reports it
      sub.on('message', (channel: string, message: string) => {
        // the scripts publish the slot they changed; a removal ('removed') wakes every watcher
        this.#watchers.wake(channel, SLOT_FIELD.test(message) ? Number(message) : undefined);
        this.#unsubscribeLater(channel);
      });
      this.#subscriber = sub;
      return sub;
    }
    return this.#subscriber;
  }

  /** A waiter re-arms right after it wakes: keep the channel a moment, drop it when nobody came back. */
  #unsubscribeLater(channel: string): void {
    setTimeout(() => {
      if (this.#watchers.count(channel) === 0) this.#subscriber?.unsubscribe(channel).catch(() => {});
    }, 1000).unref();
  }

  /**
   * SCAN over the whole keyspace with MATCH on the prefix: O(keys in the
   * database) per call, which is fine for status and prune (rare, operator
   * driven) and saves keeping an index that EXPIRE would leave stale.
   */
  async list(prefix: RecordKey): Promise<RecordKey[]> {
    checkKey(prefix);
    const base = [this.keyPrefix, ...prefix].join(':');
    const pattern = `${escapeGlob(base)}*`;
    const found = new Set<string>();
    // A cluster's keys are spread over its masters: scan each of them.
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    if (nodes.length === 0) await this.#call('list', () => this.#client.ping());
    for (const node of this.#client instanceof Cluster ? this.#client.nodes('master') : nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#call('list', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        // MATCH runonce:ns:task* also matches runonce:ns:task2; keep whole segments only.
        for (const k of keys) if (k === base || k.startsWith(`${base}:`)) found.add(k);
      } while (cursor !== '0');
    }
    const out: RecordKey[] = [];
    for (const k of found) {
      const segs = k.slice(this.keyPrefix.length + 1).split(':');
      if (segs.every(isKeySegment)) out.push(segs);
    }
    return out;
  }

  describePermissions(): string {
    return `Redis ACL rule for a dedicated user (Redis >= 6):\n${redisAcl({ keyPrefix: this.keyPrefix })}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.wakeAll();
    this.#subscriber?.disconnect();
    if (!this.#ownsClient) return;
    try {
      if (this.#client.status === 'ready') await this.#client.quit();
      else this.#client.disconnect();
    } catch {
      this.#client.disconnect();
    }
  }

  #key(key: RecordKey): string {
    if (key.length === 0) throw new ValidationError('a record key needs at least one segment');
    checkKey(key);
    return `${this.keyPrefix}:${key.join(':')}`;
  }

  #ttlFor(key: RecordKey): string {
    return key.length >= 3 ? String(this.#ttl) : '0';
  }

  async #call<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new ValidationError('Redis backend is closed');
    try {
      return await op();
    } catch (e) {
      // "max retries per request" only says the queue was flushed; the socket error says why.
      const last = (e as Error)?.name === 'MaxRetriesPerRequestError' ? this.#lastError : undefined;
      const why = last ? Object.assign(new Error(last.message, { cause: e }), { name: last.name }) : e;
      throw mapRedisError(why, `${what} at ${this.#where}`);
    }
  }
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read the Redis TLS CA file ${file}: ${(cause as Error).message}`, { cause });
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
