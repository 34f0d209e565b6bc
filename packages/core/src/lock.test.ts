import { describe, expect, it } from 'vitest';
import type { JsonObject, RecordKey } from './backend.js';
import { MemoryBackend } from './backends/memory.js';
import { FakeClock } from './clock.js';
import { RunOnce } from './engine.js';
import { BackendUnavailableError, ErrorCode, RunOnceError } from './errors.js';
import { FaultyBackend, NotifyingMemory } from './testing.js';

/** Settle a promise into a plain record so a test can look at it while the clock is still fake. */
function track<T>(p: Promise<T>) {
  const t: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  p.then(
    (value) => Object.assign(t, { settled: true, value }),
    (error) => Object.assign(t, { settled: true, error }),
  );
  return t;
}

class CountingMemory extends NotifyingMemory {
  reads = 0;
  override async read(key: RecordKey) {
    this.reads++;
    return super.read(key);
  }
}

let seq = 0;
function setup() {
  const clock = new FakeClock();
  const backend = new CountingMemory();
  const namespace = `l${++seq}`;
  const instance = (owner: string) => new RunOnce({ backend, namespace, owner, clock, random: () => 0.5 });
  const key: RecordKey = [namespace, '_lock', 'l'];
  return { clock, backend, namespace, instance, key };
}

const LEASE = { lease: '15s' } as const;

describe('lock waiters line up (stores with createNext)', () => {
  it('hands the lock over in the order asked; a holder that asks again lines up behind them', async () => {
    const { clock, instance } = setup();
    const a = instance('a');
    const held = await a.lock('l', LEASE);
    const order: string[] = [];
    const runs = [];
    for (const name of ['b', 'c', 'd']) {
      runs.push(track(instance(name).withLock('l', ({ fencingToken }) => order.push(`${name}${fencingToken}`), LEASE)));
      await clock.advance(0); // each is in line before the next asks
    }
    await held?.release();
    // Before the line, the releaser's next acquire won at once (its guess of the next token was
    // free) while the others slept in their polls: one contender took the lock again and again.
    runs.push(track(a.withLock('l', ({ fencingToken }) => order.push(`a${fencingToken}`), LEASE)));
    await clock.runUntil(() => runs.every((r) => r.settled), 60_000, 10);
    expect(runs.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined]);
    expect(order).toEqual(['b2', 'c3', 'd4', 'a5']);
  });

  it('one release wakes the next in line (and the one behind it once), and it takes the lock without waiting for a poll', async () => {
    const { clock, backend, instance } = setup();
    const held = await instance('a').lock('l', LEASE);
    const runs = ['b', 'c', 'd', 'e', 'f'].map((name) => track(instance(name).lock('l', LEASE)));
    await clock.advance(0);
    expect(runs.some((r) => r.settled)).toBe(false);
    const readsBefore = backend.reads;
    const wakesBefore = backend.wakes;
    await held?.release();
    await clock.advance(0); // the clock does not move: only a wake-up can hand it over
    expect(runs.map((r) => r.settled)).toEqual([true, false, false, false, false]);
    // The release wakes b (it watches slot 1); b's slot turning held wakes c (it watches slot 2),
    // which reads once and sleeps on. d, e and f sleep through it all.
    expect(backend.wakes - wakesBefore).toBe(2);
    expect(backend.reads - readsBefore).toBe(2);
    const next = runs[0]?.value as { fencingToken: number; release(): Promise<void> };
    expect(next.fencingToken).toBe(2);
    await next.release();
    await clock.advance(0);
    expect(runs.map((r) => r.settled)).toEqual([true, true, false, false, false]);
    for (const r of runs.slice(1)) {
      await clock.runUntil(() => r.settled, 1_000, 0);
      await (r.value as { release(): Promise<void> }).release();
    }
    expect(runs.every((r) => r.error === undefined)).toBe(true);
  });

  it('keeps the holder’s lease while waiters line up above it, heartbeat after heartbeat', async () => {
    const { clock, instance } = setup();
    const held = await instance('a').lock('l', LEASE);
    const [b, c] = ['b', 'c'].map((name) => track(instance(name).lock('l', { ...LEASE, waitTimeout: '5m' })));
    if (!b || !c) throw new Error('two waiters');
    await clock.advance(60_000); // four leases: the holder renewed with queued slots above its own
    expect(held?.signal.aborted).toBe(false);
    expect([b.settled, c.settled]).toEqual([false, false]);
    await held?.release();
    await clock.runUntil(() => b.settled, 1_000, 10);
    expect((b.value as { fencingToken: number }).fencingToken).toBe(2);
  });

  it('a waiter in line is stored as held (queued), so a runonce from before the line waits for it', async () => {
    const { clock, backend, instance, key } = setup();
    const held = await instance('a').lock('l', LEASE);
    track(instance('b').lock('l', LEASE));
    await clock.advance(0);
    const slots = await backend.read(key);
    expect(slots.map((s) => [s.index, s.value.state, s.value.queued])).toEqual([
      [1, 'held', undefined],
      [2, 'held', true],
    ]);
    await held?.release();
  });

  it('passes over a waiter that died in line once its slot has been still for its lease', async () => {
    const { clock, backend, instance, key } = setup();
    const held = await instance('a').lock('l', LEASE);
    const ghost: JsonObject = { v: 1, state: 'held', queued: true, owner: 'ghost', startedAt: 'x', leaseMs: 15_000 };
    expect((await backend.createNext(key, 2, ghost, 2)).won).toBe(true);
    const c = track(instance('c').lock('l', LEASE));
    await clock.advance(1_000);
    await held?.release();
    await clock.runUntil(() => c.settled, 60_000, 100);
    expect((c.value as { fencingToken: number }).fencingToken).toBe(3);
    // not before the ghost's slot was seen unchanged for a whole lease (15 s from c's first read)
    expect(clock.monotonic()).toBeGreaterThanOrEqual(15_000);
    expect(clock.monotonic()).toBeLessThan(21_000);
  });

  it('a waiter that gives up leaves the line, so the one behind it need not wait out its lease', async () => {
    const { clock, backend, instance, key } = setup();
    const held = await instance('a').lock('l', LEASE);
    const b = track(instance('b').lock('l', { ...LEASE, waitTimeout: '2s' }));
    await clock.advance(0);
    const c = track(instance('c').lock('l', { ...LEASE, waitTimeout: '1m' }));
    await clock.runUntil(() => b.settled, 10_000, 50);
    expect(RunOnceError.is(b.error, ErrorCode.waitTimeout)).toBe(true);
    expect((await backend.read(key)).find((s) => s.index === 2)?.value).toMatchObject({ queued: true, left: true });
    const releasedAt = clock.monotonic();
    await held?.release();
    await clock.runUntil(() => c.settled, 60_000, 50);
    expect((c.value as { fencingToken: number }).fencingToken).toBe(3);
    expect(clock.monotonic() - releasedAt).toBeLessThan(1_000);
  });

  it('under sustained contention the record holds at most the contenders + 2 slots, and one holder at a time', async () => {
    const { clock, backend, instance, key } = setup();
    const CONTENDERS = 6;
    let inside = 0;
    let most = 0;
    let largest = 0;
    const tokens: number[] = [];
    const loops = Array.from({ length: CONTENDERS }, (_, i) =>
      track(
        (async () => {
          const me = instance(`c${i}`);
          for (let n = 0; n < 10; n++) {
            await me.withLock(
              'l',
              async ({ fencingToken }) => {
                most = Math.max(most, ++inside);
                tokens.push(fencingToken);
                largest = Math.max(largest, (await backend.read(key)).length);
                await clock.sleep(100);
                inside--;
              },
              LEASE,
            );
          }
        })(),
      ),
    );
    await clock.runUntil(() => loops.every((l) => l.settled), 600_000, 10);
    expect(loops.map((l) => l.error)).toEqual(Array(CONTENDERS).fill(undefined));
    expect(most).toBe(1);
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
    expect(new Set(tokens).size).toBe(CONTENDERS * 10);
    expect(largest).toBeLessThanOrEqual(CONTENDERS + 2);
  });
});

describe('lock line faults', () => {
  it('a waiter whose write turning it holder is refused leaves its old place and lines up again, without waiting out a lease', async () => {
    const clock = new FakeClock();
    const backend = new FaultyBackend(new MemoryBackend());
    const instance = (owner: string) => new RunOnce({ backend, namespace: 'f', owner, clock, random: () => 0.5 });
    const held = await instance('a').lock('l', LEASE);
    const b = track(instance('b').lock('l', LEASE));
    await clock.advance(0);
    let refused = 0;
    backend.fault = (op, _key) => {
      if (op === 'write' && refused === 0 && backend.calls.write >= 2) {
        refused++; // the first write after a's release: b's slot turning held
        throw new BackendUnavailableError('injected');
      }
    };
    await held?.release();
    const releasedAt = clock.monotonic();
    await clock.runUntil(() => b.settled, 60_000, 50);
    expect(refused).toBe(1);
    expect((b.value as { fencingToken: number }).fencingToken).toBe(3);
    expect(clock.monotonic() - releasedAt).toBeLessThan(5_000); // not after b's old slot's 15 s lease
  });
});

describe('staleness of a lock slot', () => {
  it('a slot claimed afresh under the same index and version (the store lost its data) is not judged stale on the old one’s clock', async () => {
    const { clock, backend, instance, key } = setup();
    const ghost = (owner: string): JsonObject => ({ v: 1, state: 'held', owner, startedAt: owner, leaseMs: 15_000 });
    expect((await backend.createNext(key, 1, ghost('first'), 2)).won).toBe(true);
    const w = track(instance('w').lock('l', LEASE));
    await clock.advance(10_000); // w has watched slot 1 (version 1) for 10 s
    await backend.remove(key); // the store restarts empty; another instance claims token 1 again
    expect((await backend.createNext(key, 1, ghost('second'), 2)).won).toBe(true);
    await clock.advance(6_000); // 16 s after w first saw the old claim, 6 s after the new one
    expect(w.settled).toBe(false);
    await clock.runUntil(() => w.settled, 60_000, 100);
    expect(clock.monotonic()).toBeGreaterThanOrEqual(25_000); // a whole lease of the new claim
  });
});

describe('withLock’s release', () => {
  /** A memory store whose writes can be held back (a slow answer) or refused, declared ordered or not. */
  function stalled(ordered: boolean) {
    const inner = new MemoryBackend();
    if (!ordered) Object.defineProperty(inner, 'capabilities', { value: { ttl: false, shared: false } });
    const backend = new FaultyBackend(inner);
    let gate: Promise<void> | undefined;
    let open!: () => void;
    let refuse = false;
    backend.fault = async (op) => {
      if (op !== 'write' || !gate) return;
      await gate;
      if (refuse) throw new BackendUnavailableError('injected: the store went away');
    };
    const hold = (then: 'answer' | 'refuse') => {
      refuse = then === 'refuse';
      gate = new Promise((r) => {
        open = r;
      });
    };
    const clock = new FakeClock();
    const lost: string[] = [];
    const engine = new RunOnce({ backend, namespace: `r${++seq}`, owner: 'a', clock, random: () => 0.5 });
    engine.on('lost', (e) => lost.push(e.reason));
    return { engine, backend, hold, release: () => open(), lost, clock };
  }

  it('on an ordered store, resolves once the release is sent; close() waits for the answer', async () => {
    const { engine, hold, release } = stalled(true);
    hold('answer');
    const out = await engine.withLock('l', () => 'done', LEASE); // the release write is held back
    expect(out).toEqual({ acquired: true, fencingToken: 1, result: 'done' });
    let closed = false;
    const closing = engine.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    release();
    await closing;
    expect(closed).toBe(true);
  });

  it('on an ordered store, a release that fails is a lost event, not a rejection of work already done', async () => {
    const { engine, hold, release, lost } = stalled(true);
    hold('refuse');
    expect(await engine.withLock('l', () => 7, LEASE)).toMatchObject({ acquired: true, result: 7 });
    release();
    await engine.close();
    expect(lost).toEqual([expect.stringMatching(/^the release was not recorded \(injected: the store went away\)/)]);
  });

  it('on a store that is not ordered, resolves only once the release is answered', async () => {
    const { engine, hold, release } = stalled(false);
    hold('answer');
    const out = track(engine.withLock('l', () => 7, LEASE));
    await new Promise((r) => setTimeout(r, 20));
    expect(out.settled).toBe(false);
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(out.value).toMatchObject({ acquired: true, result: 7 });
  });

  it('a lease lost while fn ran still rejects withLock on an ordered store', async () => {
    const { engine, backend, clock } = stalled(true);
    const out = track(
      engine.withLock(
        'l',
        async () => {
          // every renewal fails from now on, and fn outlives the lease
          backend.fault = (op) => {
            if (op === 'read' || op === 'write') throw new BackendUnavailableError('injected');
          };
          await clock.sleep(20_000);
        },
        LEASE,
      ),
    );
    await clock.runUntil(() => out.settled, 60_000, 100);
    expect(RunOnceError.is(out.error, ErrorCode.leaseLost)).toBe(true);
  });
});

describe('lock on a store without createNext', () => {
  it('a contender whose create landed after its token was used and pruned does not hold the lock', async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend();
    Object.defineProperty(store, 'createNext', { value: undefined });
    const fast = new FaultyBackend(store);
    const slow = new FaultyBackend(store);
    let land!: () => void;
    const landing = new Promise<void>((r) => {
      land = r;
    });
    let stall = true;
    slow.fault = async (op) => {
      if (op === 'create' && stall) {
        stall = false;
        await landing; // read top 1 released, then stalls before its create of 2 lands
      }
    };
    const a = new RunOnce({ backend: fast, namespace: 'n', owner: 'a', clock, random: () => 0.5 });
    const b = new RunOnce({ backend: slow, namespace: 'n', owner: 'b', clock, random: () => 0.5 });
    await a.withLock('l', () => {}, LEASE);
    const late = track(b.lock('l', LEASE));
    await clock.advance(0);
    for (let i = 0; i < 40; i++) await a.withLock('l', () => {}, LEASE); // tokens 2..41; 2 is pruned
    const held = await a.lock('l', LEASE); // token 42, held while b's stale create lands
    expect(held?.fencingToken).toBe(42);
    expect((await store.read(['n', '_lock', 'l'])).some((s) => s.index === 2)).toBe(false);
    land();
    await clock.advance(1_000);
    expect(late.settled).toBe(false); // before: b held token 2 beside a's 42
    await held?.release();
    await clock.runUntil(() => late.settled, 60_000, 100);
    expect((late.value as { fencingToken: number }).fencingToken).toBe(43);
  });
});
