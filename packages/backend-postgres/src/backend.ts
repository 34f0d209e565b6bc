import {
  type Backend,
  type CreateResult,
  checkKey,
  checkSlotIndex,
  ErrorCode,
  type JsonObject,
  parseSlotValue,
  type RecordKey,
  RunOnceError,
  type Slot,
  ValidationError,
  Watchers,
} from '@runonce/core';
import pg from 'pg';
import { mapPostgresError } from './errors.js';
import { grantsFor, quoteTable } from './sql.js';
import { redactUrl } from './url.js';

export interface PostgresBackendOptions {
  /** `postgres://user:password@host:port/db?sslmode=require`; libpq's `PG*` variables fill what it leaves out. */
  url?: string;
  /** The table, optionally `schema.table`. Default `runonce`. `runonce init` creates it. */
  table?: string;
  /** Connections this process keeps at most. Default 4 (runonce makes one call at a time per task). */
  maxConnections?: number;
  /** Give up connecting after this long. Default 3000. */
  connectTimeoutMs?: number;
  /** Give up on a statement that got no reply after this long (it may still have run). Default 5000. */
  statementTimeoutMs?: number;
  /**
   * Where a waiter LISTENs for wake-ups: a session of its own, so not through a transaction pooler
   * (PgBouncer in transaction mode cannot keep a LISTEN). Default `url`; `false`: never listen (poll).
   */
  listenUrl?: string | false;
}

/** The pg Pool settings the backend uses for its own pool. */
export function postgresPoolConfig(options: PostgresBackendOptions = {}): pg.PoolConfig {
  return {
    ...(options.url ? { connectionString: options.url } : {}),
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    // Client-side: a statement_timeout would be a startup parameter, which PgBouncer refuses.
    query_timeout: options.statementTimeoutMs ?? 5000,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
    application_name: 'runonce',
  };
}

/**
 * PostgreSQL backend: one row per slot in one table.
 *
 *   record  text (the key's segments joined by `/`: [ns, task] and [ns, task, 1] differ)
 *   slot    bigint, with record the primary key
 *   value   text (the slot's JSON, as written)
 *   version bigint (1 on create, +1 on every write)
 *
 * Every primitive is one statement in its own implicit transaction, with no session state (no
 * advisory locks, no SET, no named prepared statements), so it runs unchanged through PgBouncer in
 * transaction pooling mode and RDS Proxy. Create is `INSERT … ON CONFLICT DO NOTHING`: the unique key
 * makes one of N concurrent inserts win, and the row count says which.
 */
export class PostgresBackend implements Backend {
  readonly name = 'postgres';
  readonly capabilities = { ttl: false, shared: true } as const;
  readonly table: string;
  get location(): string {
    return `table ${this.table} at ${this.#where}`;
  }
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #t: string;
  readonly #where: string;
  readonly #listenUrl: string | false | undefined;
  readonly #channel: string;
  #listener: Promise<pg.Client> | undefined;
  readonly #watchers = new Watchers();
  #closed = false;

  /** Give `pool` to share one you manage (close() then leaves it open). */
  constructor(options: PostgresBackendOptions = {}, pool?: pg.Pool) {
    this.table = options.table ?? 'runonce';
    this.#t = quoteTable(this.table);
    this.#where = options.url ? redactUrl(options.url) : 'the PG* environment';
    const max = options.maxConnections ?? 4;
    if (!Number.isSafeInteger(max) || max < 1)
      throw new ValidationError(`maxConnections must be a whole number >= 1, got ${max}`);
    this.#listenUrl = options.listenUrl === undefined ? options.url : options.listenUrl;
    this.#channel = channelOf(this.table);
    this.#ownsPool = pool === undefined;
    this.#pool = pool ?? new pg.Pool(postgresPoolConfig(options));
    // An idle connection the server dropped must not crash the process; the next query reports it.
    this.#pool.on('error', () => {});
  }

  /** The pg pool, for health checks (doctor) and tests. */
  get pool(): pg.Pool {
    return this.#pool;
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const record = recordOf(key);
    const rows = await this.#query<{ slot: string; value: string; version: string }>(
      'read',
      `SELECT slot, value, version FROM ${this.#t} WHERE record = $1 ORDER BY slot`,
      [record],
    );
    return rows.map((r) => ({
      index: Number(r.slot),
      value: parseSlotValue(r.value, `PostgreSQL row ${record} slot ${r.slot}`),
      version: Number(r.version),
    }));
  }

  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const rows = await this.#query(
      'create',
      `INSERT INTO ${this.#t} (record, slot, value, version) VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING RETURNING slot`,
      [recordOf(key), index, JSON.stringify(value)],
    );
    return rows.length === 1 ? { won: true, version: 1 } : { won: false };
  }

  /**
   * One statement: insert slot n only if the record's top slot is n - 1, and in the same statement drop
   * slots at or below n - keep. Two inserts of n meet at the primary key (one waits for the other and
   * then does nothing); an insert of n + 1 sees no slot n until n is committed.
   */
  /**
   * One statement: insert slot n if the record's top is n − 1, and prune. Its snapshot is taken when
   * it starts, so on its own it could re-create a slot that was made and pruned while it stalled (two
   * winners of one token: seen in the contract's race, 3 runs in 6, once commits took longer):
   *
   *   A  snapshot: top 0 ········································ insert 1 (no live conflict): wins
   *   B       create 1 ── create 2 … create 1+keep, prune 1 ──
   *
   * So for n ≥ 2 it locks slot n − 1 (FOR KEY SHARE: a locking read sees the row's latest committed
   * state, and a pruned n − 1 makes it lose). While it holds that lock nobody can prune n − 1, and so
   * nobody can prune n either (a prune that reaches n takes n − 1 with it): a conflict on n is final.
   * Heartbeats only update values, which KEY SHARE does not block. For n = 1 there is no row to lock:
   * the record must be empty, and that is checked under a transaction-scoped advisory lock taken in a
   * statement of its own first, so the check's snapshot is newer than every other first creator's
   * commit. One round trip either way, nothing outlives the transaction (poolers stay safe); the
   * advisory lock is taken once per lock name (its first token, or after its record expired).
   */
  async createNext(key: RecordKey, index: number, value: JsonObject, keep: number): Promise<CreateResult> {
    checkSlotIndex(index);
    if (!Number.isSafeInteger(keep) || keep < 1)
      throw new ValidationError(`keep must be a whole number >= 1, got ${keep}`);
    const record = recordOf(key);
    const text = JSON.stringify(value);
    if (index === 1) {
      const r = pg.escapeLiteral(record);
      // no values: node-postgres sends it as one simple query, so both statements go in one round trip
      const results = (await this.#send(
        'create',
        `SELECT pg_advisory_xact_lock(hashtext('runonce createNext ' || ${r}));
         INSERT INTO ${this.#t} (record, slot, value, version)
           SELECT ${r}, 1, ${pg.escapeLiteral(text)}, 1
           WHERE NOT EXISTS (SELECT 1 FROM ${this.#t} WHERE record = ${r})
           ON CONFLICT DO NOTHING RETURNING slot`,
        [],
      )) as unknown as pg.QueryResult[];
      return results[1]?.rows.length === 1 ? { won: true, version: 1 } : { won: false };
    }
    const rows = await this.#query(
      'create',
      `WITH prev AS (SELECT slot FROM ${this.#t} WHERE record = $1 AND slot = $2::bigint - 1 FOR KEY SHARE),
       top AS (SELECT coalesce(max(slot), 0) AS n FROM ${this.#t} WHERE record = $1),
       ins AS (
         INSERT INTO ${this.#t} (record, slot, value, version)
         SELECT $1, $2::bigint, $3, 1 FROM top, prev WHERE top.n = $2::bigint - 1
         ON CONFLICT DO NOTHING RETURNING slot
       ),
       del AS (DELETE FROM ${this.#t} WHERE record = $1 AND slot <= $2::bigint - $4::bigint AND EXISTS (SELECT 1 FROM ins))
       SELECT slot FROM ins`,
      [record, index, text, keep],
    );
    return rows.length === 1 ? { won: true, version: 1 } : { won: false };
  }

  /** As on every backend, a write of a slot that is gone creates it again (version 1). */
  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const rows = await this.#query<{ version: string }>(
      'write',
      `INSERT INTO ${this.#t} AS t (record, slot, value, version) VALUES ($1, $2, $3, 1)
       ON CONFLICT (record, slot) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
       RETURNING version`,
      [recordOf(key), index, JSON.stringify(value)],
    );
    return Number(rows[0]?.version);
  }

  async remove(key: RecordKey): Promise<void> {
    await this.#query('remove', `DELETE FROM ${this.#t} WHERE record = $1`, [recordOf(key)]);
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    checkSlotIndex(index);
    await this.#query('removeSlot', `DELETE FROM ${this.#t} WHERE record = $1 AND slot = $2`, [recordOf(key), index]);
  }

  /** The records at or below the prefix: a range scan of the primary key (`record` sorts bytewise). */
  async list(prefix: RecordKey): Promise<RecordKey[]> {
    checkKey(prefix);
    if (prefix.length === 0) {
      const all = await this.#query<{ record: string }>('list', `SELECT DISTINCT record FROM ${this.#t}`, []);
      return all.map((r) => r.record.split('/'));
    }
    const base = prefix.join('/');
    // every record below `a/b` sorts in [`a/b/`, `a/b0`): '0' is the byte after '/'
    const rows = await this.#query<{ record: string }>(
      'list',
      `SELECT DISTINCT record FROM ${this.#t} WHERE record = $1 OR (record >= $2 AND record < $3)`,
      [base, `${base}/`, `${base}0`],
    );
    return rows.map((r) => r.record.split('/'));
  }

  /**
   * A trigger `init` installs NOTIFYs `runonce_<table>` with the record on every insert, update and
   * delete; a watch LISTENs on one session of its own that all watches of this backend share. Without
   * the trigger (a table from before it), or behind a transaction pooler, nothing arrives and the
   * waiter polls. Rejects if the listening session cannot be opened.
   */
  watch(key: RecordKey, signal: AbortSignal, slot?: number): Promise<void> {
    const record = recordOf(key);
    if (this.#closed) return Promise.resolve();
    if (this.#listenUrl === false) return Promise.reject(new ValidationError('listening is off (listenUrl: false)'));
    const w = this.#watchers.add(record, signal, slot);
    this.#listen().catch((e: unknown) =>
      w.fail(mapPostgresError(e, `LISTEN on table ${this.table} at ${this.#where}`, this.table)),
    );
    return w.promise;
  }

  #listen(): Promise<pg.Client> {
    this.#listener ??= (async () => {
      const client = new pg.Client({
        ...postgresPoolConfig({ url: this.#listenUrl || undefined }),
        application_name: 'runonce-listen',
      } as pg.ClientConfig);
      client.on('error', () => {
        // the session is gone: the next watch opens another; the polls go on meanwhile
        this.#listener = undefined;
      });
      client.on('notification', (n) => {
        // `<record> <slot>` (no record has a space); a deletion, or a trigger from before slots were
        // sent, says only the record: every watcher of it wakes
        if (n.payload === undefined) return;
        const [record, slot] = n.payload.split(' ');
        this.#watchers.wake(record as string, slot === undefined ? undefined : Number(slot));
      });
      await client.connect();
      await client.query(`LISTEN "${this.#channel}"`);
      return client;
    })().catch((e) => {
      this.#listener = undefined;
      throw e;
    });
    return this.#listener;
  }

  /** Creates the table if it is missing (idempotent, safe to run from several hosts at once). */
  async init(): Promise<string> {
    const exists = async () =>
      (await this.#query('init', 'SELECT to_regclass($1) AS t', [this.#t]))[0] as { t: string | null };
    if ((await exists()).t === null) {
      try {
        await this.#query(
          'init',
          `CREATE TABLE IF NOT EXISTS ${this.#t} (
             record text COLLATE "C" NOT NULL,
             slot bigint NOT NULL CHECK (slot > 0),
             value text NOT NULL,
             version bigint NOT NULL CHECK (version > 0),
             updated_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (record, slot)
           )`,
          [],
        );
      } catch (e) {
        // two hosts creating it at once: one of them meets the other's catalog row
        if (!(await exists()).t) throw e;
      }
      await this.#checkColumns();
      await this.#installTrigger();
      return `created PostgreSQL table ${this.table} (record, slot, value, version) and its wake-up trigger at ${this.#where}`;
    }
    await this.#checkColumns();
    return `PostgreSQL table ${this.table} exists and has runonce's columns; ${await this.#ensureTrigger()}`;
  }

  describePermissions(): string {
    return `PostgreSQL grants for the role runonce connects as (the CREATE only for the role that runs \`runonce init\`):\n${grantsFor(this.table)}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.wakeAll();
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) await listener.then((c) => c.end()).catch(() => {});
    if (this.#ownsPool) await this.#pool.end().catch(() => {});
  }

  /** The trigger on a table that exists: left alone when there; installed if this role may (the owner). */
  async #ensureTrigger(): Promise<string> {
    const [found] = await this.#query<{ n: number }>(
      'init',
      `SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = to_regclass($1) AND t.tgname = 'runonce_notify' AND p.prosrc LIKE '%NEW.slot%'`,
      [this.#t],
    );
    // a trigger from before the payload named the slot is replaced (it still wakes, only more waiters)
    if ((found?.n ?? 0) > 0) return 'wake-up trigger in place';
    try {
      await this.#installTrigger();
      return 'wake-up trigger installed';
    } catch (e) {
      if (!RunOnceError.is(e, ErrorCode.accessDenied)) throw e;
      return "no wake-up trigger (only the table's owner can add it: run `runonce init` as that role); waiters poll";
    }
  }

  /**
   * NOTIFY on every change, so waiters wake (CREATE OR REPLACE: PostgreSQL 14 or later). One statement
   * under a transaction-scoped advisory lock, so hosts running init at once do not trip over each
   * other's catalog rows, and nothing outlives the statement (poolers stay safe).
   */
  async #installTrigger(): Promise<void> {
    const fn = quoteTable(`${this.table}_notify`);
    await this.#query(
      'init',
      `DO $init$
       BEGIN
         PERFORM pg_advisory_xact_lock(hashtext('runonce init ${this.table}'));
         EXECUTE $f$CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $b$
           BEGIN
             PERFORM pg_notify('${this.#channel}', CASE WHEN TG_OP = 'DELETE' THEN OLD.record ELSE NEW.record || ' ' || NEW.slot END);
             RETURN NULL;
           END $b$$f$;
         EXECUTE $f$CREATE OR REPLACE TRIGGER runonce_notify AFTER INSERT OR UPDATE OR DELETE ON ${this.#t}
           FOR EACH ROW EXECUTE FUNCTION ${fn}()$f$;
       END
       $init$`,
      [],
    );
  }

  async #checkColumns(): Promise<void> {
    // a table of that name that is not runonce's fails here, before anything reads it
    await this.#query('init', `SELECT record, slot, value, version FROM ${this.#t} LIMIT 0`, []);
  }

  async #query<R extends object = Record<string, unknown>>(
    what: string,
    text: string,
    values: readonly unknown[],
  ): Promise<R[]> {
    return (await this.#send<R>(what, text, values)).rows;
  }

  /**
   * One query, its errors mapped. Without values node-postgres uses the simple protocol, where several
   * statements run as one implicit transaction, each with its own snapshot (createNext's slot 1).
   */
  async #send<R extends object = Record<string, unknown>>(
    what: string,
    text: string,
    values: readonly unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new ValidationError('PostgreSQL backend is closed');
    try {
      // No `name`: pg sends an unnamed statement, which poolers in transaction mode pass through.
      return await this.#pool.query<R>({ text, values: values as unknown[] });
    } catch (e) {
      throw mapPostgresError(e, `${what} on table ${this.table} at ${this.#where}`, this.table);
    }
  }
}

function recordOf(key: RecordKey): string {
  if (key.length === 0) throw new ValidationError('a record key needs at least one segment');
  checkKey(key);
  return key.join('/');
}

/** The NOTIFY channel of a table: `runonce_<table>`, dots as underscores, within 63 characters. */
function channelOf(table: string): string {
  return `runonce_${table.replace(/\./g, '_')}`.slice(0, 63);
}
