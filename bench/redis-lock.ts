/**
 * The Redis lock: runonce's withLock beside redis-semaphore's Mutex and
 * @sesamecare-oss/redlock, on the same Redis in the same run.
 *
 *   node bench/redis-lock.ts [--rounds 15] [--round-ms 200] [--seconds 3] [--contenders 50] [--hold-ms 1]
 *
 * Redis: RUNONCE_TEST_REDIS_URL, else a local redis-server on a free port (as
 * the tests find one). Each library gets its own ioredis connection, shared by
 * all its contenders.
 *
 *   sequential  one caller, lock after lock, never contended. Measured in
 *               `rounds` short rounds, each library once per round in a
 *               rotating order, beside two PING round trips (a cycle whose
 *               release is awaited is two round trips in every library;
 *               runonce's withLock sends its release on an ordered store and
 *               does not wait for it, so the rows with the release awaited
 *               for runonce and not awaited for the peers are shown beside). A
 *               library's figure is its median; its ratios are medians of the
 *               per-round ratios, so a machine that slows down for a second
 *               slows every library in that round alike.
 *   contended   N callers looping on one lock name, each holding it
 *               `hold-ms`: cycles/s, the share of acquisitions the busiest
 *               caller took (1/N is fair), and the time from asking to
 *               holding (p50, p99, worst), for each library at its
 *               documented defaults and with its retry tuned for speed.
 *
 * Build first (`pnpm build`): the runonce packages are imported from dist.
 * Writes bench/.out/redis-lock.json too (read by `pnpm bench`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RedisBackend } from '@runonce/backend-redis';
import { RunOnce } from '@runonce/core';
import { provideRedis } from '@runonce/test-servers';
import { Redlock } from '@sesamecare-oss/redlock';
import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { LockContended, LockResults, LockRow } from './lib/results.ts';
import { max, median, quantile } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    'round-ms': { type: 'string', default: '200' },
    seconds: { type: 'string', default: '3' },
    contenders: { type: 'string', default: '50' },
    'hold-ms': { type: 'string', default: '1' },
  },
});
const ROUNDS = Number(args.rounds);
const ROUND_MS = Number(args['round-ms']);
const SECONDS = Number(args.seconds);
const CONTENDERS = Number(args.contenders);
const HOLD_MS = Number(args['hold-ms']);
const LEASE_MS = 15_000;

/** One acquire, `critical()` while held, release, of the lock `name` for contender `id`. */
type Cycle = (name: string, id: number, critical: () => Promise<void>) => Promise<void>;

/** A library at one setting. */
interface Setting {
  readonly setting: LockContended['setting'];
  readonly settings: string;
  readonly cycle: Cycle;
}

interface Library {
  readonly name: string;
  /** Its defaults first; a library without a retry to tune has only those. */
  readonly settings: readonly Setting[];
  /**
   * Sequential only, shown for context: runonce with its release awaited (lock() + release()), a
   * peer with its release sent and not awaited, as runonce's withLock does on an ordered store.
   */
  readonly other?: { readonly name: string; readonly context: string; readonly cycle: Cycle };
  close(): Promise<void>;
}

async function runonceLibrary(url: string): Promise<Library> {
  const backend = new RedisBackend({ url, keyPrefix: `bench-${randomBytes(3).toString('hex')}` });
  const engines = new Map<number, RunOnce>();
  const engine = (id: number) => {
    let e = engines.get(id);
    if (!e) {
      e = new RunOnce({ backend, namespace: 'bench', owner: `contender-${id}` });
      engines.set(id, e);
    }
    return e;
  };
  return {
    name: 'runonce withLock',
    settings: [
      {
        setting: 'default',
        settings:
          'lease 15s; waiters line up and are woken by the slot ahead (a poll from 250 ms ×1.5 to 5 s as fallback); withLock sends its release without awaiting the answer (Redis is ordered); nothing to tune',
        cycle: async (name, id, critical) => {
          const out = await engine(id).withLock(name, critical, { lease: '15s' });
          if (!out.acquired) throw new Error('runonce: lock not acquired');
        },
      },
    ],
    other: {
      name: 'runonce lock() + release()',
      context: 'the release awaited, as the peers await theirs',
      cycle: async (name, id, critical) => {
        const handle = await engine(id).lock(name, { lease: '15s' });
        await critical();
        await handle.release();
      },
    },
    close: () => backend.close(),
  };
}

async function semaphoreLibrary(url: string): Promise<Library> {
  const client = new Redis(url);
  const cycle =
    (retryInterval: number): Cycle =>
    async (name, _id, critical) => {
      // acquireTimeout 60 s, not the default 10 s: with 50 contenders a starved one would end the run
      const mutex = new Mutex(client, name, { lockTimeout: LEASE_MS, acquireTimeout: 60_000, retryInterval });
      await mutex.acquire();
      await critical();
      await mutex.release();
    };
  return {
    name: 'redis-semaphore Mutex',
    settings: [
      {
        setting: 'default',
        settings: 'lockTimeout 15s, retryInterval 10 ms (default), acquireTimeout 60 s',
        cycle: cycle(10),
      },
      { setting: 'tuned', settings: 'retryInterval 1 ms', cycle: cycle(1) },
    ],
    other: {
      name: 'redis-semaphore, release not awaited',
      context: 'release() sent and not awaited, as runonce’s withLock does on an ordered store',
      cycle: async (name, _id, critical) => {
        const mutex = new Mutex(client, name, { lockTimeout: LEASE_MS, acquireTimeout: 60_000, retryInterval: 10 });
        await mutex.acquire();
        await critical();
        void mutex.release().catch(() => {});
      },
    },
    close: async () => {
      client.disconnect();
    },
  };
}

async function redlockLibrary(url: string): Promise<Library> {
  const client = new Redis(url);
  const cycle = (retryDelay: number, retryJitter: number): Cycle => {
    // retryCount unlimited, not the default 10: with 50 contenders the default gives up within 2 s
    const redlock = new Redlock([client], { retryCount: -1, retryDelay, retryJitter });
    redlock.on('error', () => {}); // contention is reported as "error" events; the acquire retries anyway
    return async (name, _id, critical) => {
      const lock = await redlock.acquire([name], LEASE_MS);
      await critical();
      await lock.release();
    };
  };
  return {
    name: '@sesamecare-oss/redlock',
    settings: [
      {
        setting: 'default',
        settings: 'duration 15s, retryDelay 200 ms + jitter 100 ms (defaults), retryCount unlimited',
        cycle: cycle(200, 100),
      },
      { setting: 'tuned', settings: 'retryDelay 5 ms + jitter 5 ms', cycle: cycle(5, 5) },
    ],
    other: {
      name: 'redlock, release not awaited',
      context: 'release() sent and not awaited, as runonce’s withLock does on an ordered store',
      cycle: (() => {
        const redlock = new Redlock([client], { retryCount: -1, retryDelay: 200, retryJitter: 100 });
        redlock.on('error', () => {});
        return async (name, _id, critical) => {
          const lock = await redlock.acquire([name], LEASE_MS);
          await critical();
          void lock.release().catch(() => {});
        };
      })() satisfies Cycle,
    },
    close: async () => {
      client.disconnect();
    },
  };
}

/** A critical section that fails the run if it ever finds a second holder. */
function exclusive(name: string, holdMs: number): () => Promise<void> {
  let holders = 0;
  return async () => {
    if (++holders !== 1) throw new Error(`${name}: ${holders} holders at once`);
    if (holdMs > 0) await sleep(holdMs);
    else await Promise.resolve();
    holders--;
  };
}

/** Sequential cycles per second of `cycle` for `ms`. */
async function sequentialRate(cycle: () => Promise<unknown>, ms: number): Promise<number> {
  let count = 0;
  const started = performance.now();
  const deadline = started + ms;
  while (performance.now() < deadline) {
    await cycle();
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

interface Contended {
  perSecond: number;
  busiestShare: number;
  waitsMs: number[];
}

/** N contenders looping on one lock for SECONDS, each holding it HOLD_MS. */
async function contended(name: string, cycle: Cycle): Promise<Contended> {
  const lockName = `contended-${randomBytes(3).toString('hex')}`;
  const counts = new Array<number>(CONTENDERS).fill(0);
  const waitsMs: number[] = [];
  const critical = exclusive(name, HOLD_MS);
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONTENDERS }, async (_, id) => {
      while (performance.now() < deadline) {
        const asked = performance.now();
        await cycle(lockName, id, () => {
          waitsMs.push(performance.now() - asked);
          return critical();
        });
        counts[id] = (counts[id] as number) + 1;
      }
    }),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    perSecond: total / ((performance.now() - started) / 1000),
    busiestShare: max(counts) / total,
    waitsMs,
  };
}

const redis = await provideRedis();
console.log(
  `Redis ${redis.url} (${redis.source}); Node ${process.version}; sequential ${ROUNDS} rounds of ${ROUND_MS} ms; ` +
    `${CONTENDERS} contenders holding ${HOLD_MS} ms for ${SECONDS} s per setting\n`,
);
const libraries: Library[] = [];
const ping = new Redis(redis.url);
let out: LockResults;
try {
  for (const make of [runonceLibrary, semaphoreLibrary, redlockLibrary]) libraries.push(await make(redis.url));
  // Sequential: each library's default cycle, the context cycles and the PING pair, once per round,
  // in a rotating order. runners[0] is the PING pair, then one per entry of `sequential`.
  const sequential: { lib: Library; name: string; cycle: Cycle; context?: string }[] = [
    ...libraries.map((lib) => ({ lib, name: lib.name, cycle: (lib.settings[0] as Setting).cycle })),
    ...libraries.flatMap((lib) => (lib.other ? [{ lib, ...lib.other }] : [])),
  ];
  const runners: (() => Promise<unknown>)[] = [
    async () => {
      await ping.ping();
      await ping.ping();
    },
    ...sequential.map(({ name, cycle }) => {
      const critical = exclusive(name, 0);
      const lockName = `sequential-${randomBytes(3).toString('hex')}`;
      return () => cycle(lockName, 0, critical);
    }),
  ];
  for (const run of runners) for (let i = 0; i < 200; i++) await run(); // warm-up: connections, JIT, scripts loaded
  const rates = runners.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < runners.length; k++) {
      const i = (round + k) % runners.length;
      (rates[i] as number[]).push(await sequentialRate(runners[i] as () => Promise<unknown>, ROUND_MS));
    }
  }
  const perRound = (i: number, j: number) =>
    median((rates[i] as number[]).map((x, round) => x / ((rates[j] as number[])[round] as number)));
  const rows: LockRow[] = [];
  for (const [n, entry] of sequential.entries()) {
    const i = n + 1;
    const row: LockRow = {
      name: entry.name,
      ...(entry.context ? { context: entry.context } : {}),
      sequential: median(rates[i] as number[]),
      ofPing: perRound(i, 0),
      runonceOverIt: perRound(1, i),
      contended: [],
    };
    if (!entry.context) {
      for (const s of entry.lib.settings) {
        const c = await contended(entry.name, s.cycle);
        row.contended.push({
          setting: s.setting,
          settings: s.settings,
          perSecond: c.perSecond,
          busiestShare: c.busiestShare,
          waitMs: { p50: quantile(c.waitsMs, 0.5), p99: quantile(c.waitsMs, 0.99), worst: max(c.waitsMs) },
        });
      }
    }
    rows.push(row);
  }
  out = {
    rounds: ROUNDS,
    roundMs: ROUND_MS,
    seconds: SECONDS,
    contenders: CONTENDERS,
    holdMs: HOLD_MS,
    ping: median(rates[0] as number[]),
    results: rows,
  };
} finally {
  await Promise.all(libraries.map((l) => l.close().catch(() => {})));
  ping.disconnect();
  await redis.stop();
}

const n = (x: number) => x.toFixed(0);
const ms = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));
console.log(`sequential (2× PING: ${n(out.ping)}/s, the limit)`);
console.log(`${'lock'.padEnd(38)}${'cycles/s'.padStart(10)}${'of 2× PING'.padStart(12)}${'runonce ÷ it'.padStart(14)}`);
for (const r of out.results) {
  console.log(
    `${r.name.padEnd(38)}${n(r.sequential).padStart(10)}${r.ofPing.toFixed(2).padStart(12)}${`${r.runonceOverIt.toFixed(2)}×`.padStart(14)}${r.context ? `  (${r.context})` : ''}`,
  );
}
console.log(
  `\n${out.contenders} contenders, each holding ${out.holdMs} ms (fair share ${(100 / out.contenders).toFixed(0)} %)`,
);
console.log(
  `${'lock'.padEnd(26)}${'setting'.padEnd(9)}${'cycles/s'.padStart(9)}${'busiest'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'worst ms'.padStart(10)}`,
);
for (const r of out.results)
  for (const c of r.contended)
    console.log(
      `${r.name.padEnd(26)}${c.setting.padEnd(9)}${n(c.perSecond).padStart(9)}${`${(100 * c.busiestShare).toFixed(0)} %`.padStart(9)}${ms(c.waitMs.p50).padStart(9)}${ms(c.waitMs.p99).padStart(9)}${ms(c.waitMs.worst).padStart(10)}`,
    );
console.log('\nsettings:');
for (const r of out.results) for (const c of r.contended) console.log(`  ${r.name}, ${c.setting}: ${c.settings}`);
mkdirSync(new URL('./.out/', import.meta.url), { recursive: true });
writeFileSync(new URL('./.out/redis-lock.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
