import { randomBytes } from 'node:crypto';
import { ErrorCode, RunOnceError } from '@runonce/core';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { grantsFor, mapPostgresError, PostgresBackend, quoteTable, redactUrl } from '../src/index.js';

const url = inject('postgresUrl');
const bouncerUrl = inject('pgbouncerUrl');
const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(() => admin.end());

const fresh = () => `t_${randomBytes(5).toString('hex')}`;
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return RunOnceError.is(e) ? e.code : `not a runonce error: ${(e as Error).message}`;
  }
};

describe('postgres: init, the table and its privileges', () => {
  it('init creates the table once; four hosts running it at once all succeed; a second run only checks', async () => {
    const table = fresh();
    const backends = Array.from({ length: 4 }, () => new PostgresBackend({ url, table }));
    const lines = await Promise.all(backends.map((b) => b.init()));
    expect(lines.filter((l) => l.startsWith('created')).length).toBeGreaterThanOrEqual(1);
    for (const l of lines) expect(l).toMatch(/^created PostgreSQL table|exists and has runonce's columns/);
    expect(await backends[0]?.init()).toBe(
      `PostgreSQL table ${table} exists and has runonce's columns; wake-up trigger in place`,
    );
    expect((await backends[0]?.create(['ns', 't', 's'], 1, { a: 1 }))?.won).toBe(true);
    await Promise.all(backends.map((b) => b.close()));
  });

  it('without the table every call is E_MISSING_TABLE, naming `runonce init`', async () => {
    const b = new PostgresBackend({ url, table: fresh() });
    const err = await b.read(['ns', 't', 's']).catch((e) => e);
    expect(err.code).toBe(ErrorCode.missingTable);
    expect(err.message).toContain('runonce init');
    await b.close();
  });

  it("init refuses a table of that name that is not runonce's, and nothing is written to it", async () => {
    const table = fresh();
    await admin.query(`CREATE TABLE ${table} (id int)`);
    const b = new PostgresBackend({ url, table });
    expect(await codeOf(b.init())).toBe(ErrorCode.corruptState);
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(0);
    await b.close();
  });

  it('the grants doctor prints are enough: a role with only them runs every primitive; a role without them gets E_ACCESS_DENIED', async () => {
    const table = fresh();
    const owner = new PostgresBackend({ url, table });
    await owner.init();
    const role = `r_${randomBytes(4).toString('hex')}`;
    const bare = `${role}_bare`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`CREATE ROLE ${bare} LOGIN`);
    // every line doctor prints except the CREATE one, which is for `runonce init` only
    const grants = grantsFor(table, role)
      .split('\n')
      .filter((l) => l.startsWith('GRANT') && !l.includes('CREATE'));
    expect(grants).toHaveLength(2);
    for (const g of grants) await admin.query(g);
    const as = (who: string) => new PostgresBackend({ url: url.replace('postgres@', `${who}@`), table });
    const app = as(role);
    const key = ['ns', 'task', 'scope'];
    expect((await app.create(key, 1, { v: 1 })).won).toBe(true);
    expect(await app.write(key, 1, { v: 2 })).toBe(2);
    expect((await app.createNext([...key, 'l'], 1, { h: 1 }, 4)).won).toBe(true);
    expect(await app.list(['ns'])).toHaveLength(2);
    await app.removeSlot(key, 1);
    await app.remove(key);
    expect(await codeOf(app.init())).toBe('no error'); // the table exists: init only checks it (trigger in place)
    const stranger = as(bare);
    expect(await codeOf(stranger.read(key))).toBe(ErrorCode.accessDenied);
    await Promise.all([app.close(), stranger.close(), owner.close()]);
  });
});

describe('postgres: createNext never re-creates a pruned slot', () => {
  /**
   * A table whose inserts of a value containing "stall" sleep 1 s in a BEFORE trigger: that creator
   * has taken its snapshot and not yet inserted, while others create and prune.
   */
  async function stalling() {
    const table = fresh();
    const b = new PostgresBackend({ url, table });
    await b.init();
    await admin.query(
      `CREATE FUNCTION ${table}_stall() RETURNS trigger LANGUAGE plpgsql AS $f$
         BEGIN IF NEW.value LIKE '%stall%' THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $f$`,
    );
    await admin.query(`CREATE TRIGGER stall BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_stall()`);
    const others = new PostgresBackend({ url, table });
    return { b, others, close: () => Promise.all([b.close(), others.close()]) };
  }
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('slot n: a creator stalled after its snapshot loses, though n was won and pruned meanwhile', async () => {
    const { b, others, close } = await stalling();
    const key = ['ns', '_lock', 'l'];
    expect((await others.createNext(key, 1, { n: 1 }, 2)).won).toBe(true);
    expect((await others.createNext(key, 2, { n: 2 }, 2)).won).toBe(true);
    const stalled = b.createNext(key, 3, { stall: true }, 2); // saw top 2; inserts 1 s later
    await pause(200);
    expect((await others.createNext(key, 3, { n: 3 }, 2)).won).toBe(true);
    // 4 and 5, each pruning: 5 drops 3 (on the old statement, before the stalled insert lands)
    const more = others.createNext(key, 4, { n: 4 }, 2).then(() => others.createNext(key, 5, { n: 5 }, 2));
    expect(await stalled).toEqual({ won: false });
    await more;
    expect((await others.read(key)).map((s) => [s.index, s.value])).toEqual([
      [4, { n: 4 }],
      [5, { n: 5 }],
    ]);
    await close();
  });

  it('slot 1: a first creator stalled after seeing the record empty is the only winner', async () => {
    const { b, others, close } = await stalling();
    const key = ['ns', '_lock', 'l'];
    const stalled = b.createNext(key, 1, { stall: true }, 2);
    await pause(200);
    const first = await others.createNext(key, 1, { n: 1 }, 2);
    if (first.won) {
      // the old statement: this one won, and 2 and 3 (pruning 1) come before the stalled insert
      await others.createNext(key, 2, { n: 2 }, 2);
      await others.createNext(key, 3, { n: 3 }, 2);
    }
    const late = await stalled;
    expect([first.won, late.won].filter(Boolean)).toHaveLength(1);
    await close();
  });
});

describe('postgres: the wake-up trigger', () => {
  it('init replaces a trigger from before the payload named the slot (it woke every watcher of the record)', async () => {
    const table = fresh();
    const b = new PostgresBackend({ url, table });
    await b.init();
    // the trigger function as runonce installed it before
    await admin.query(
      `CREATE OR REPLACE FUNCTION ${table}_notify() RETURNS trigger LANGUAGE plpgsql AS $b$
         BEGIN
           PERFORM pg_notify('runonce_${table}', CASE WHEN TG_OP = 'DELETE' THEN OLD.record ELSE NEW.record END);
           RETURN NULL;
         END $b$`,
    );
    expect(await b.init()).toBe(
      `PostgreSQL table ${table} exists and has runonce's columns; wake-up trigger installed`,
    );
    expect(await b.init()).toBe(`PostgreSQL table ${table} exists and has runonce's columns; wake-up trigger in place`);
    await b.close();
  });
});

describe('postgres: input and failures', () => {
  it('refuses table names that would need quoting or escape the identifier', () => {
    for (const bad of ['a-b', 'x"; drop table y; --', 'a.b.c', '', '1abc', 'a'.repeat(64)])
      expect(() => quoteTable(bad), bad).toThrow(/table must be a name or schema.name/);
    expect(quoteTable('runonce')).toBe('"runonce"');
    expect(quoteTable('ops.Runonce')).toBe('"ops"."Runonce"');
  });

  it('keeps the password out of its location and its messages', async () => {
    expect(redactUrl('postgres://app:s3cret@db.internal:5432/app?sslmode=require')).toBe(
      'postgres://app:***@db.internal:5432/app?sslmode=require',
    );
    const b = new PostgresBackend({ url: 'postgres://app:s3cret@127.0.0.1:1/app', connectTimeoutMs: 500 });
    expect(b.location).not.toContain('s3cret');
    const err = await b.read(['a', 'b', 'c']).catch((e) => e);
    expect(err.code).toBe(ErrorCode.backendUnavailable);
    expect(err.message).not.toContain('s3cret');
    await b.close();
  });

  it('maps SQLSTATEs by class: rollbacks and resource limits are unavailable, data errors invalid', () => {
    const sql = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });
    const code = (e: unknown) => mapPostgresError(e, 'read', 'runonce').code;
    expect(code(sql('40001'))).toBe(ErrorCode.backendUnavailable);
    expect(code(sql('53300'))).toBe(ErrorCode.backendUnavailable);
    expect(code(sql('57P01'))).toBe(ErrorCode.backendUnavailable);
    expect(code(sql('28P01'))).toBe(ErrorCode.accessDenied);
    expect(code(sql('42501'))).toBe(ErrorCode.accessDenied);
    expect(code(sql('22001'))).toBe(ErrorCode.validation);
    expect(code(sql('3D000'))).toBe(ErrorCode.config);
    expect(code(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      ErrorCode.backendUnavailable,
    );
  });

  it('through PgBouncer in transaction mode, 50 clients on a 10-connection pool keep each claim whole', async () => {
    const table = fresh();
    const setup = new PostgresBackend({ url, table });
    await setup.init();
    const clients = Array.from(
      { length: 50 },
      () => new PostgresBackend({ url: bouncerUrl, table, maxConnections: 1 }),
    );
    const key = ['ns', 'bounce', 'scope'];
    const results = await Promise.all(clients.map((c, i) => c.create(key, 1, { i })));
    expect(results.filter((r) => r.won)).toHaveLength(1);
    const tokens = await Promise.all(clients.map((c, i) => c.createNext([...key, 'lock'], 1, { i }, 2)));
    expect(tokens.filter((r) => r.won)).toHaveLength(1);
    await Promise.all([...clients.map((c) => c.close()), setup.close()]);
  });
});
