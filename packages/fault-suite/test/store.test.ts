import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  type BackendName,
  bounded,
  exclusive,
  lines,
  overlaps,
  record,
  recordRun,
  type Store,
  scratch,
  spawnExec,
  startStore,
  status,
  tally,
  taskCommand,
  until,
} from './harness.js';
import { FaultProxy } from './proxy.js';

/**
 * Store faults: the server gone mid-task, a network that is slow, drops
 * connections or stalls past a lease (a TCP proxy in front of the real
 * server), and Redis restarted without its data. The file backend has no
 * server and is not in this file. For `pgbouncer` the proxy sits between the
 * clients and PgBouncer (a pooler whose clients' network fails). Redis Cluster
 * is not here: its clients learn every node's own address from the cluster
 * (MOVED, CLUSTER SLOTS), so a proxy in front of one node is bypassed.
 */
const NETWORKED: readonly BackendName[] = [
  'ssm',
  'dynamodb',
  'redis',
  'postgres',
  'pgbouncer',
  's3',
  'ssm-localstack',
  's3-localstack',
];

for (const backend of NETWORKED) {
  describe(`store faults on ${backend}`, () => {
    let store: Store;
    let proxy: FaultProxy;
    beforeAll(async () => {
      store = await startStore(backend);
    }, 120_000);
    afterAll(() => store?.stop());
    afterEach(async () => {
      await proxy?.close();
    });

    /** An environment whose endpoint goes through a fresh proxy. */
    async function viaProxy(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
      proxy = await FaultProxy.start(FaultProxy.targetOf(store.url));
      return { ...env, [store.endpointVar as string]: proxy.url(store.url) };
    }

    const started = (marker: string, attempt = 1) => lines(marker).some((l) => l.startsWith(`start ${attempt}`));
    const pidOf = (marker: string) =>
      Number(
        lines(marker)
          .find((l) => l.startsWith('start 1 '))
          ?.split(' ')[2],
      );

    it('the server unreachable mid-task: the owner stops its command and exits 75 within about a lease', async () => {
      const t0 = performance.now();
      const env = store.env();
      const marker = join(scratch(), 'marker');
      const owner = spawnExec(
        ['exec', 'mig', '--lease', '2s', '--shell', '--', taskCommand(marker, 30)],
        await viaProxy(env),
      );
      await until(() => started(marker), 'the owner to start the command', 20_000);
      const childPid = pidOf(marker);
      const cut = performance.now();
      proxy.down = true;
      proxy.drop();
      const o = await bounded(owner, 20_000);
      const took = performance.now() - cut;
      record({
        fault: 'server unreachable mid-task',
        backend,
        runs: tally(marker).ends,
        duplicates: tally(marker).duplicates,
        lostDone: 0,
        hangs: Number(o.hung),
        ms: performance.now() - t0,
      });
      expect(o.code, o.stderr).toBe(75);
      expect(o.stderr).toMatch(/lease lost/);
      expect(took).toBeLessThan(2000 + 8000); // the lease, then SIGTERM's grace and exit
      expect(alive(childPid)).toBe(false);
    });

    // A heartbeat is a read and a write, each a round trip or two: 100 ms a chunk is about 0.5 s a
    // heartbeat on SSM, which a 4 s lease (heartbeat every 1.3 s) absorbs, and a 2 s lease does not.
    it('100 ms latency on every chunk both ways: one run, everybody exits 0', async () => {
      const t0 = performance.now();
      const env = await viaProxy(store.env());
      proxy.latencyMs = 100;
      const marker = join(scratch(), 'marker');
      const procs = [0, 1, 2].map(() =>
        spawnExec(['exec', 'mig', '--lease', '4s', '--shell', '--', taskCommand(marker, 1, 1)], env),
      );
      const rs = await Promise.all(procs.map((p) => bounded(p, 60_000)));
      proxy.latencyMs = 0;
      const s = await status('mig', env);
      const t = tally(marker);
      recordRun('latency 100 ms per chunk', backend, { t0, tally: t, state: s.state, runs: rs });
      for (const r of rs) expect(r.code, r.stderr).toBe(0);
      expect(t.ends).toBe(1);
      expect(s.state).toBe('done');
    });

    it('connections reset every 300 ms: one run, everybody exits 0 or 75, never a second run', async () => {
      const t0 = performance.now();
      const env = await viaProxy(store.env());
      const marker = join(scratch(), 'marker');
      const timer = setInterval(() => proxy.drop(), 300);
      const procs = [0, 1, 2].map(() =>
        spawnExec(['exec', 'mig', '--lease', '2s', '--shell', '--', taskCommand(marker, 1.5, 1.5)], env),
      );
      const rs = await Promise.all(procs.map((p) => bounded(p, 60_000)));
      clearInterval(timer);
      const s = await status('mig', env);
      const t = tally(marker);
      recordRun('connections reset every 300 ms', backend, { t0, tally: t, state: s.state, runs: rs });
      // A reset may cost an owner its lease (75) or fail a call past its retries (69); never a silent second run.
      for (const r of rs) expect([0, 69, 75], r.stderr).toContain(r.code);
      expect(t.duplicates).toBe(0);
      expect(rs.filter((r) => r.code === 0).length).toBeGreaterThan(0);
      expect(s.state).toBe('done');
    });

    it('responses stalled for longer than a lease: the owner gives up (75), a waiter on a healthy path takes over', async () => {
      const t0 = performance.now();
      const env = store.env();
      const marker = join(scratch(), 'marker');
      // Both commands hold one flock(2): a command that finds it taken says so (two alive at once).
      const cmd = exclusive(marker, join(marker, '..', 'lock'), taskCommand(marker, 30));
      const owner = spawnExec(['exec', 'mig', '--lease', '1500ms', '--shell', '--', cmd], await viaProxy(env));
      await until(() => started(marker), 'the owner to start the command', 20_000);
      const childPid = pidOf(marker);
      const waiter = spawnExec(['exec', 'mig', '--lease', '1500ms', '--shell', '--', cmd], env);
      proxy.stall();
      const o = await bounded(owner, 20_000);
      const w = await bounded(waiter, 30_000);
      proxy.resume(); // the owner's held heartbeats land now, after attempt 2 is done
      await new Promise((r) => setTimeout(r, 300));
      const s = await status('mig', env);
      const t = tally(marker);
      recordRun('responses stalled > lease', backend, {
        t0,
        tally: t,
        state: s.state,
        runs: [o, w],
        overlaps: overlaps(marker),
      });
      expect(overlaps(marker), lines(marker).join('\n')).toBe(0);
      expect(o.code, o.stderr).toBe(75);
      expect(alive(childPid)).toBe(false);
      expect(w.code, w.stderr).toBe(0);
      expect(s.state).toBe('done');
      expect(t.ends).toBe(1);
    });

    if (backend === 'redis') {
      it('redis-server stopped mid-task and started again: the owner exits 75, its command gone', async () => {
        const t0 = performance.now();
        const redis = store.redis;
        if (!redis) throw new Error('no local redis-server');
        const env = store.env();
        const marker = join(scratch(), 'marker');
        const owner = spawnExec(['exec', 'mig', '--lease', '2s', '--shell', '--', taskCommand(marker, 30)], env);
        await until(() => started(marker), 'the owner to start the command', 20_000);
        const childPid = pidOf(marker);
        await redis.stop();
        const o = await bounded(owner, 20_000);
        await redis.restart();
        record({
          fault: 'redis-server stopped mid-task',
          backend,
          runs: tally(marker).ends,
          duplicates: 0,
          lostDone: 0,
          hangs: Number(o.hung),
          ms: performance.now() - t0,
        });
        expect(o.code, o.stderr).toBe(75);
        expect(alive(childPid)).toBe(false);
      });

      it('redis restarted empty (no persistence) mid-task: nobody re-runs silently, the waiter reports the state lost', async () => {
        const t0 = performance.now();
        const redis = store.redis;
        if (!redis) throw new Error('no local redis-server');
        const env = store.env();
        const marker = join(scratch(), 'marker');
        const owner = spawnExec(['exec', 'mig', '--lease', '2s', '--shell', '--', taskCommand(marker, 4)], env);
        await until(() => started(marker), 'the owner to start the command', 20_000);
        const waiter = spawnExec(['exec', 'mig', '--lease', '2s', '--shell', '--', taskCommand(marker, 30)], env);
        await until(() => waiter.stderr().includes('waiting for'), 'the second instance to wait', 20_000);
        await redis.stop();
        await redis.restart();
        const o = await bounded(owner, 20_000);
        const w = await bounded(waiter, 20_000);
        const t = tally(marker);
        record({
          fault: 'redis restarted empty mid-task',
          backend,
          runs: t.ends,
          duplicates: t.starts - 1, // a second start after the loss would be a silent re-run
          lostDone: 0,
          hangs: Number(o.hung) + Number(w.hung),
          ms: performance.now() - t0,
        });
        // The waiter saw attempt 1 vanish (or come back at a lower version): it says so and runs nothing.
        expect(w.code, w.stderr).toBe(69);
        expect(w.stderr).toMatch(/state lost/);
        expect(t.starts).toBe(1);
        // The owner either read the empty store (lease lost, 75) or re-created its own slot with a
        // heartbeat before anyone else wrote, and finished: never both it and another instance.
        if (o.code === 0) expect(t.ends).toBe(1);
        else expect(o.code, o.stderr).toBe(75);
      });
    }
  });
}
