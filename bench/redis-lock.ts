/**
 * Redis lock throughput: runonce's withLock beside redis-semaphore's Mutex and
 * @sesamecare-oss/redlock, on the same Redis in the same run.
 *
 *   node bench/redis-lock.ts [--seconds 3] [--contenders 50]
 *
 * Redis: RUNONCE_TEST_REDIS_URL, else a local redis-server on a free port
 * (as the tests find one). Each library gets its own ioredis connection,
 * shared by all its contenders. Two measures, acquire + release per second:
 *   sequential  one caller, lock after lock, never contended
 *   contended   N callers looping on one lock name
 * Build first (`pnpm build`): the runonce packages are imported from dist.
 * Writes bench/.out/redis-lock.json too (read by `pnpm bench`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RedisBackend } from '@runonce/backend-redis';
import { RunOnce } from '@runonce/core';
import { provideRedis } from '@runonce/test-servers';
import { Redlock } from '@sesamecare-oss/redlock';
import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, contenders: { type: 'string', default: '50' } },
});
const SECONDS = Number(args.seconds);
const CONTENDERS = Number(args.contenders);
const LEASE_MS = 15_000;

/** One acquire, `critical()` while held, release, of the lock `name` for contender `id`. */
type Locker = {
  name: string;
  settings: string;
  cycle: (name: string, id: number, critical: () => Promise<void>) => Promise<void>;
  close: () => Promise<void>;
};

async function runonceLocker(url: string): Promise<Locker> {
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
    settings: 'lease 15s, waiters poll 250 ms ×1.5 to 5 s (jittered)',
    cycle: async (name, id, critical) => {
      const out = await engine(id).withLock(name, critical, { lease: '15s' });
      if (!out.acquired) throw new Error('runonce: lock not acquired');
    },
    close: () => backend.close(),
  };
}

async function semaphoreLocker(url: string): Promise<Locker> {
  const client = new Redis(url);
  return {
    name: 'redis-semaphore Mutex',
    settings: 'lockTimeout 15s, retryInterval 10 ms (default), acquireTimeout 60 s',
    cycle: async (name, _id, critical) => {
      const mutex = new Mutex(client, name, { lockTimeout: LEASE_MS, acquireTimeout: 60_000 });
      await mutex.acquire();
      await critical();
      await mutex.release();
    },
    close: async () => {
      client.disconnect();
    },
  };
}

async function redlockLocker(url: string): Promise<Locker> {
  const client = new Redis(url);
  const redlock = new Redlock([client], { retryCount: -1 });
  redlock.on('error', () => {}); // contention is reported as "error" events; the acquire retries anyway
  return {
    name: '@sesamecare-oss/redlock',
    settings: 'duration 15s, retryDelay 200 ms + jitter 100 ms (defaults), retryCount unlimited',
    cycle: async (name, _id, critical) => {
      const lock = await redlock.acquire([name], LEASE_MS);
      await critical();
      await lock.release();
    },
    close: async () => {
      client.disconnect();
    },
  };
}

/** Cycles per second over SECONDS, after a short warm-up. */
async function measure(locker: Locker, contenders: number): Promise<number> {
  const lockName = `lock-${contenders}-${randomBytes(3).toString('hex')}`;
  // Each holder yields once inside; a second holder at the same time would be a broken lock.
  let holders = 0;
  const critical = async () => {
    if (++holders !== 1) throw new Error(`${locker.name}: ${holders} holders at once`);
    await Promise.resolve();
    holders--;
  };
  for (let i = 0; i < 20; i++) await locker.cycle(`${lockName}-warm`, 0, critical);
  let count = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: contenders }, async (_, id) => {
      while (performance.now() < deadline) {
        await locker.cycle(lockName, id, critical);
        count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const redis = await provideRedis();
console.log(`Redis ${redis.url} (${redis.source}); ${SECONDS} s per measure; Node ${process.version}\n`);
const factories = [runonceLocker, semaphoreLocker, redlockLocker];
const results: { name: string; settings: string; sequential: number; contended: number }[] = [];
try {
  for (const make of factories) {
    const locker = await make(redis.url);
    try {
      const sequential = await measure(locker, 1);
      const contended = await measure(locker, CONTENDERS);
      results.push({ name: locker.name, settings: locker.settings, sequential, contended });
    } finally {
      await locker.close();
    }
  }
} finally {
  await redis.stop();
}

const base = results[0];
if (!base) throw new Error('no results');
const fmt = (n: number) => n.toFixed(0).padStart(7);
const ratio = (n: number, d: number) => `${(n / d).toFixed(2)}×`.padStart(7);
console.log(
  `${'lock'.padEnd(26)}${'sequential/s'.padStart(14)}${`${CONTENDERS} contenders/s`.padStart(18)}   runonce ÷ it (seq, contended)`,
);
for (const r of results) {
  console.log(
    `${r.name.padEnd(26)}${fmt(r.sequential).padStart(14)}${fmt(r.contended).padStart(18)}   ${ratio(base.sequential, r.sequential)} ${ratio(base.contended, r.contended)}`,
  );
}
console.log('\nsettings:');
for (const r of results) console.log(`  ${r.name}: ${r.settings}`);
mkdirSync(new URL('./.out/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./.out/redis-lock.json', import.meta.url),
  `${JSON.stringify({ seconds: SECONDS, contenders: CONTENDERS, results }, null, 2)}\n`,
);
