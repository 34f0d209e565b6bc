import { describe, expect, it } from 'vitest';
import { MemoryBackend } from './backends/memory.js';
import { FakeClock } from './clock.js';
import { RunOnce, type RunOptions, type TaskContext } from './engine.js';
import { BackendUnavailableError, ErrorCode, RunOnceError, ThrottledError } from './errors.js';
import type { RunOnceEventName } from './events.js';
import { encodeAttempt } from './states.js';
import { FaultyBackend } from './testing.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settle a promise into a plain record so a test can look at it while the clock is still fake. */
function track<T>(p: Promise<T>) {
  const t: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(t, { settled: true, value }),
    (error) => Object.assign(t, { settled: true, error }),
  );
  return t;
}

/** Start a run of task `t` whose body calls `started`, then waits for `gate`; tracked as by track(). */
function gatedRun(runonce: RunOnce, gate: Promise<unknown>, started: () => void, options: RunOptions = opts) {
  return track(
    runonce.run(
      't',
      async () => {
        started();
        await gate;
      },
      options,
    ),
  );
}

let seq = 0;
function setup(options: { backend?: MemoryBackend | FaultyBackend } = {}) {
  const clock = new FakeClock();
  const backend = options.backend ?? new MemoryBackend();
  const namespace = `t${++seq}`;
  const make = (owner: string) => new RunOnce({ backend, namespace, owner, clock, random: () => 0.5 });
  const events: { name: RunOnceEventName; owner: string; payload: unknown }[] = [];
  const instance = (owner: string) => {
    const r = make(owner);
    for (const name of [
      'claimed',
      'takeover',
      'heartbeat',
      'lost',
      'done',
      'failed',
      'abandoned',
      'skipped',
      'waiting',
      'waited',
    ] as const) {
      r.on(name, (payload) => events.push({ name, owner, payload }));
    }
    return r;
  };
  return { clock, backend, namespace, instance, events };
}

const opts: RunOptions = { scope: 's1', lease: '30s' };

describe('run', () => {
  it('runs once, then skips because done', async () => {
    const { instance } = setup();
    const a = instance('a');
    let runs = 0;
    const first = await a.run('migrate', () => ++runs, opts);
    expect(first).toMatchObject({ state: 'done', ranHere: true, attempt: 1, owner: 'a', result: 1, scope: 's1' });
    const second = await instance('b').run('migrate', () => ++runs, opts);
    expect(second).toMatchObject({ state: 'done', ranHere: false, attempt: 1, owner: 'a' });
    expect(runs).toBe(1);
    const status = await a.status('migrate', { scope: 's1' });
    expect(status.state).toBe('done');
    expect(status.attempts).toEqual([
      expect.objectContaining({ attempt: 1, owner: 'a', state: 'done', exitCode: 0, error: null }),
    ]);
  });

  it('hands the task its attempt number as fencing token and its scope', async () => {
    const { instance, namespace } = setup();
    let seen: TaskContext | undefined;
    await instance('a').run(
      't',
      (ctx) => {
        seen = ctx;
      },
      opts,
    );
    expect(seen).toMatchObject({ namespace, task: 't', scope: 's1', attempt: 1, fencingToken: 1, owner: 'a' });
    expect(seen?.signal.aborted).toBe(false);
  });

  it('lets a second instance wait for the first and then exit done without running', async () => {
    const { clock, instance, events } = setup();
    const gate = deferred();
    let runs = 0;
    const a = gatedRun(instance('a'), gate.promise, () => runs++);
    await clock.advance(0);
    const b = track(instance('b').run('t', () => runs++, opts));
    await clock.advance(20_000);
    expect(b.settled).toBe(false);
    expect(events.some((e) => e.name === 'waiting' && e.owner === 'b')).toBe(true);
    gate.resolve();
    await clock.runUntil(() => a.settled && b.settled);
    expect(a.value).toMatchObject({ ranHere: true, attempt: 1 });
    expect(b.value).toMatchObject({ state: 'done', ranHere: false, attempt: 1, owner: 'a' });
    expect(runs).toBe(1);
    expect(events.some((e) => e.name === 'waited' && e.owner === 'b')).toBe(true);
  });

  it('keeps a long task alive with heartbeats every lease/3, so waiters never take over', async () => {
    const { clock, instance, events } = setup();
    let runs = 0;
    const a = track(
      instance('a').run(
        't',
        async () => {
          runs++;
          await clock.sleep(300_000);
        },
        opts,
      ),
    );
    await clock.advance(0);
    const b = track(instance('b').run('t', () => runs++, opts));
    await clock.runUntil(() => a.settled && b.settled, 400_000, 1000);
    expect(a.value).toMatchObject({ ranHere: true });
    expect(b.value).toMatchObject({ ranHere: false, attempt: 1 });
    expect(runs).toBe(1);
    const beats = events.filter((e) => e.name === 'heartbeat' && e.owner === 'a').length;
    expect(beats).toBeGreaterThanOrEqual(29);
    expect(beats).toBeLessThanOrEqual(31);
  });

  it('takes over an attempt whose heartbeat stopped for a whole lease', async () => {
    const { clock, instance, backend, namespace, events } = setup();
    // A crashed owner: it claimed attempt 1 and then vanished.
    await backend.create(
      [namespace, 't', 's1'],
      1,
      encodeAttempt({ state: 'running', owner: 'dead', startedAt: 'x', leaseMs: 30_000 }),
    );
    let runs = 0;
    const b = track(instance('b').run('t', () => ++runs, opts));
    await clock.advance(29_000);
    expect(b.settled).toBe(false);
    await clock.runUntil(() => b.settled, 60_000, 250);
    expect(b.value).toMatchObject({ ranHere: true, attempt: 2 });
    expect(clock.monotonic()).toBeGreaterThanOrEqual(30_000);
    expect(clock.monotonic()).toBeLessThan(36_000);
    expect(events.find((e) => e.name === 'takeover')?.payload).toMatchObject({
      attempt: 2,
      previous: { attempt: 1, owner: 'dead' },
    });
    const status = await instance('c').status('t', { scope: 's1' });
    expect(status.attempts.map((a) => a.state)).toEqual(['running', 'done']);
  });

  it('uses the owner’s lease, not the waiter’s, to judge staleness', async () => {
    const { clock, instance, backend, namespace } = setup();
    await backend.create(
      [namespace, 't', 's1'],
      1,
      encodeAttempt({ state: 'running', owner: 'dead', startedAt: 'x', leaseMs: 120_000 }),
    );
    const b = track(instance('b').run('t', () => 1, { ...opts, lease: '1s' }));
    await clock.advance(100_000);
    expect(b.settled).toBe(false);
    await clock.runUntil(() => b.settled, 60_000, 500);
    expect(b.value).toMatchObject({ attempt: 2 });
  });

  it('does not re-run a failed task without retries, and reports the failure', async () => {
    const { instance } = setup();
    const failure = Object.assign(new Error('migration broke'), { exitCode: 3 });
    const a = instance('a').run(
      't',
      () => {
        throw failure;
      },
      opts,
    );
    await expect(a).rejects.toSatisfy((e: unknown) => RunOnceError.is(e, ErrorCode.taskFailed));
    await expect(a).rejects.toMatchObject({ details: { ranHere: true, exitCode: 3, attempt: 1 }, cause: failure });
    let ranAgain = false;
    const b = instance('b').run(
      't',
      () => {
        ranAgain = true;
      },
      opts,
    );
    await expect(b).rejects.toMatchObject({
      code: 'E_TASK_FAILED',
      details: { ranHere: false, owner: 'a', exitCode: 3 },
    });
    expect(ranAgain).toBe(false);
    const status = await instance('c').status('t', { scope: 's1' });
    expect(status).toMatchObject({
      state: 'failed',
      attempts: [{ state: 'failed', exitCode: 3, error: 'migration broke' }],
    });
  });

  it('retries a failed task when retries allow, as attempt n+1', async () => {
    const { instance } = setup();
    await expect(
      instance('a').run('t', () => Promise.reject(new Error('x')), { ...opts, retries: 1 }),
    ).rejects.toThrow();
    const second = await instance('b').run('t', () => 'ok', { ...opts, retries: 1 });
    expect(second).toMatchObject({ ranHere: true, attempt: 2, result: 'ok' });
    await expect(instance('c').run('t', () => 1, { ...opts, retries: 1 })).resolves.toMatchObject({
      ranHere: false,
      attempt: 2,
    });
  });

  it('skips or fails at once while busy, per onBusy', async () => {
    const { clock, instance } = setup();
    const gate = deferred();
    const a = track(instance('a').run('t', () => gate.promise, opts));
    await clock.advance(0);
    await expect(instance('b').run('t', () => 1, { ...opts, onBusy: 'skip' })).resolves.toMatchObject({
      state: 'running',
      ranHere: false,
      owner: 'a',
    });
    await expect(instance('c').run('t', () => 1, { ...opts, onBusy: 'fail' })).rejects.toMatchObject({
      code: 'E_BUSY',
      holder: { owner: 'a', attempt: 1 },
    });
    gate.resolve();
    await clock.runUntil(() => a.settled);
    expect(a.value).toMatchObject({ ranHere: true });
  });

  it('gives up waiting after waitTimeout', async () => {
    const { clock, instance } = setup();
    const gate = deferred();
    const a = track(instance('a').run('t', () => gate.promise, opts));
    await clock.advance(0);
    const b = track(instance('b').run('t', () => 1, { ...opts, waitTimeout: '10s' }));
    await clock.runUntil(() => b.settled, 20_000, 100);
    expect(RunOnceError.is(b.error, ErrorCode.waitTimeout)).toBe(true);
    expect(clock.monotonic()).toBeLessThan(10_500);
    gate.resolve();
    await clock.runUntil(() => a.settled);
  });

  it('aborts the task and throws LeaseLost when the store stops answering for a lease', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    let signal: AbortSignal | undefined;
    const a = track(
      instance('a').run(
        't',
        async (ctx) => {
          signal = ctx.signal;
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        },
        opts,
      ),
    );
    await clock.advance(12_000); // one heartbeat confirmed at 10 s
    backend.fault = () => {
      throw new BackendUnavailableError('connection refused');
    };
    // Given up at stopBy = 10 s + lease − margin (1 s for a 30 s lease): 39 s, before a waiter may take over at 40 s.
    await clock.advance(26_500);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1_000);
    expect(signal?.aborted).toBe(true);
    await clock.runUntil(() => a.settled);
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
    backend.fault = undefined;
    const status = await instance('x').status('t', { scope: 's1' });
    expect(status.attempts[0]?.state).toBe('running'); // never wrote done or failed
  });

  it('with stopGrace, gives the lease up that much before stopBy, and reports stopBy after each renewal', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    let ctx: TaskContext | undefined;
    const renewals: number[] = [];
    const a = track(
      instance('a').run(
        't',
        async (c) => {
          ctx = c;
          c.onRenew((stopBy) => renewals.push(stopBy));
          await new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason)));
        },
        { ...opts, stopGrace: '10s' },
      ),
    );
    await clock.advance(1);
    expect(ctx?.stopBy).toBe(29_000); // claimed at 0: 0 + 30 s − 1 s margin
    await clock.advance(11_000); // the heartbeat at 10 s is confirmed
    expect(renewals).toEqual([39_000]);
    expect(ctx?.stopBy).toBe(39_000);
    backend.fault = () => {
      throw new BackendUnavailableError('connection refused');
    };
    // The renew deadline: 39 s − 10 s grace = 29 s. Failed renewals are retried (at 20 s and soon after) until then.
    await clock.advance(17_500);
    expect(ctx?.signal.aborted).toBe(false);
    await clock.advance(1_000);
    expect(ctx?.signal.aborted).toBe(true);
    await clock.runUntil(() => a.settled);
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
  });

  it('refuses a stopGrace longer than half the lease', async () => {
    const { instance } = setup();
    await expect(instance('a').run('t', () => 1, { ...opts, stopGrace: '16s' })).rejects.toThrow(
      /more than half the lease/,
    );
  });

  it('announces an interruption in the store at once, and a waiter takes over after the grace, not the lease', async () => {
    const { clock, instance, backend, namespace } = setup();
    const interrupt = new AbortController();
    let started = false;
    // The owner's task never ends and its process "dies" after the announcement: nothing more is written.
    track(
      instance('a').run(
        't',
        async () => {
          started = true;
          await new Promise(() => {});
        },
        { ...opts, stopGrace: '5s', signal: interrupt.signal },
      ),
    );
    await clock.runUntil(() => started);
    await clock.advance(1_000);
    interrupt.abort(new Error('SIGTERM'));
    await clock.advance(1);
    const [slot] = await backend.read([namespace, 't', 's1']);
    expect(slot?.value).toMatchObject({ state: 'running', stoppingWithinMs: 5_000 + 1_000 });
    const t0 = clock.monotonic();
    let takenAt: number | undefined;
    const b = track(
      instance('b').run(
        't',
        () => {
          takenAt = clock.monotonic() - t0;
        },
        opts,
      ),
    );
    await clock.runUntil(() => b.settled, 60_000);
    expect(b.error).toBeUndefined();
    // Trusted 6 s after the waiter first saw the announcement (its polls add a few seconds), far short of 30 s.
    expect(takenAt).toBeGreaterThanOrEqual(6_000);
    expect(takenAt).toBeLessThan(15_000);
  });

  it('declares the lease lost when a heartbeat stalls past the lease (a paused process or store)', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    const a = track(
      instance('a').run(
        't',
        (ctx) => new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
        opts,
      ),
    );
    await clock.advance(0);
    const stall = deferred();
    backend.fault = (op) => (op === 'write' || op === 'read' ? stall.promise : undefined);
    await clock.runUntil(() => a.settled, 60_000, 500);
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
    expect(clock.monotonic()).toBeLessThanOrEqual(31_000);
    stall.resolve();
  });

  it('loses the lease when a higher attempt appears, and does not write done', async () => {
    const { clock, instance, backend, namespace, events } = setup();
    const key = [namespace, 't', 's1'];
    const a = track(
      instance('a').run(
        't',
        (ctx) => new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
        opts,
      ),
    );
    await clock.advance(0);
    await backend.create(
      key,
      2,
      encodeAttempt({ state: 'running', owner: 'usurper', startedAt: 'x', leaseMs: 30_000 }),
    );
    await clock.runUntil(() => a.settled, 20_000, 500);
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
    expect(events.find((e) => e.name === 'lost')?.payload).toMatchObject({ reason: 'attempt 2 exists' });
    const slots = await backend.read(key);
    expect(slots.map((s) => s.value.state)).toEqual(['running', 'running']);
  });

  it('lets an operator release a stuck attempt: the next instance takes over at once, the owner stops', async () => {
    const { clock, instance, events } = setup();
    const a = track(
      instance('a').run(
        't',
        (ctx) => new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
        opts,
      ),
    );
    await clock.advance(0);
    const released = await instance('op').release('t', { scope: 's1' });
    expect(released).toMatchObject({ released: { attempt: 1 }, tombstone: 2 });
    const t0 = clock.monotonic();
    const b = track(instance('b').run('t', () => 'b ran', opts));
    await clock.runUntil(() => b.settled && a.settled, 30_000, 100);
    // The tombstone takes attempt 2; the taker is attempt 3, and the tombstone is not counted as a takeover.
    expect(b.value).toMatchObject({ ranHere: true, attempt: 3 });
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
    expect(events.find((e) => e.name === 'lost' && e.owner === 'a')?.payload).toMatchObject({
      reason: expect.stringContaining('released by an operator (attempt 2: released by op)'),
    });
    expect(clock.monotonic() - t0).toBeLessThan(11_000);
    // Nobody wrote into another owner's slot: attempt 1 is as its owner left it.
    const status = await instance('x').status('t', { scope: 's1' });
    expect(status.attempts).toEqual([
      expect.objectContaining({ attempt: 1, owner: 'a', state: 'running' }),
      expect.objectContaining({ attempt: 2, owner: 'op', state: 'abandoned', releases: 1, reason: 'released by op' }),
      expect.objectContaining({ attempt: 3, owner: 'b', state: 'done' }),
    ]);
  });

  it('a release racing a finishing owner never yields two successful runs (the owner reads after its done)', async () => {
    // The order that used to run the task twice in silence: the operator releases attempt 1 just
    // after its owner's last check; a taker claims and re-reads before the owner's `done` lands;
    // the owner, checked recently, wrote `done` without looking again.
    const { clock, instance } = setup();
    const finishA = deferred();
    const bStarted = deferred();
    const finishB = deferred();
    let runs = 0;
    const a = gatedRun(instance('a'), finishA.promise, () => runs++);
    await clock.advance(0);
    await instance('op').release('t', { scope: 's1' });
    const b = gatedRun(instance('b'), finishB.promise, () => {
      runs++;
      bStarted.resolve();
    });
    await bStarted.promise; // b claimed and found nothing done: it runs
    finishA.resolve(); // a's task ends now, well within lease/3 of its claim
    await clock.runUntil(() => a.settled, 5_000, 10);
    finishB.resolve();
    await clock.runUntil(() => b.settled, 5_000, 10);
    expect(runs).toBe(2);
    const successes = [a, b].filter((t) => (t.value as { ranHere?: boolean } | undefined)?.ranHere === true);
    expect(successes).toHaveLength(1);
    expect(b.value).toMatchObject({ ranHere: true, attempt: 3 });
    expect(RunOnceError.is(a.error, ErrorCode.leaseLost)).toBe(true);
  });

  it('records an interrupted attempt abandoned, and the next instance takes over at once', async () => {
    const { clock, instance } = setup();
    const stop = new AbortController();
    const a = track(
      instance('a').run(
        't',
        (ctx) => new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(new Error('child killed')))),
        { ...opts, signal: stop.signal },
      ),
    );
    await clock.advance(1000);
    stop.abort('SIGTERM');
    await clock.advance(0);
    expect(RunOnceError.is(a.error, ErrorCode.interrupted)).toBe(true);
    const status = await instance('x').status('t', { scope: 's1' });
    expect(status.attempts[0]).toMatchObject({ state: 'abandoned', reason: 'interrupted: SIGTERM' });
    expect(status.state).toBe('pending');
    const b = await instance('b').run('t', () => 'ok', opts);
    expect(b).toMatchObject({ ranHere: true, attempt: 2 });
  });

  it('stops taking over after maxTakeovers and reports the task failed', async () => {
    const { instance, backend, namespace } = setup();
    const key = [namespace, 't', 's1'];
    for (let i = 1; i <= 2; i++) {
      await backend.create(
        key,
        i,
        encodeAttempt({
          state: 'abandoned',
          owner: `o${i}`,
          startedAt: 'x',
          leaseMs: 1000,
          reason: 'interrupted: SIGTERM',
        }),
      );
    }
    let runs = 0;
    await expect(instance('b').run('t', () => ++runs, { ...opts, maxTakeovers: 1 })).rejects.toMatchObject({
      code: 'E_TASK_FAILED',
    });
    await expect(instance('b').run('t', () => ++runs, { ...opts, maxTakeovers: 2 })).resolves.toMatchObject({
      attempt: 3,
    });
    expect(runs).toBe(1);
  });

  it('refuses to act on a slot it did not write, and never runs the task', async () => {
    const { instance, backend, namespace } = setup();
    await backend.create([namespace, 't', 's1'], 1, { hello: 'world' });
    let ran = false;
    await expect(
      instance('a').run(
        't',
        () => {
          ran = true;
        },
        opts,
      ),
    ).rejects.toMatchObject({ code: 'E_CORRUPT_STATE' });
    expect(ran).toBe(false);
  });

  it('rejects bad names and options before touching the store', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { instance } = setup({ backend });
    const a = instance('a');
    for (const bad of ['', '-x', 'a/b', 'a b', '../x', 'x'.repeat(129)]) {
      await expect(a.run(bad, () => 1, opts)).rejects.toMatchObject({ code: 'E_USAGE' });
    }
    for (const scope of ['a/b', '', '..', 'x'.repeat(129), 'sp ace']) {
      await expect(a.run('t', () => 1, { scope })).rejects.toMatchObject({ code: 'E_USAGE' });
    }
    await expect(a.run('t', () => 1, { ...opts, lease: '5 parsecs' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(a.run('t', () => 1, { ...opts, retries: -1 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(a.run('t', () => 1, { ...opts, onBusy: 'maybe' as 'wait' })).rejects.toMatchObject({
      code: 'E_USAGE',
    });
    expect(Object.values(backend.calls).reduce((x, y) => x + y)).toBe(0);
  });

  it('keeps polling through throttled reads instead of failing', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    let n = 0;
    backend.fault = (op) => {
      if (op === 'read' && n++ < 3) throw new ThrottledError('slow down');
    };
    const a = track(instance('a').run('t', () => 'ok', opts));
    await clock.runUntil(() => a.settled, 60_000, 100);
    expect(a.value).toMatchObject({ ranHere: true });
  });

  it('stops re-reading a throttled store once its wait times out', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    const gate = deferred();
    track(instance('a').run('t', () => gate.promise, opts));
    await clock.advance(0);
    const b = track(instance('b').run('t', () => 'b', { ...opts, waitTimeout: '10s' }));
    await clock.advance(8_000);
    backend.fault = (op) => {
      if (op === 'read') throw new ThrottledError('slow down');
    };
    const t0 = clock.monotonic();
    await clock.runUntil(() => b.settled, 60_000, 100);
    expect(b.error).toMatchObject({ code: 'E_THROTTLED' });
    // The 10 s wait ends it; nine rounds of re-reading (about 21 s) would not have.
    expect(clock.monotonic() - t0).toBeLessThan(8_000);
    gate.resolve();
  });

  it('ignores wall-clock jumps: staleness is judged on the monotonic clock', async () => {
    const { clock, instance } = setup();
    const gate = deferred();
    let runs = 0;
    const a = track(
      instance('a').run(
        't',
        async () => {
          runs++;
          await gate.promise;
        },
        opts,
      ),
    );
    await clock.advance(0);
    const b = track(instance('b').run('t', () => runs++, opts));
    for (let i = 0; i < 6; i++) {
      clock.jumpWall(i % 2 ? -3_600_000 : 3_600_000);
      await clock.advance(10_000);
    }
    expect(b.settled).toBe(false);
    gate.resolve();
    await clock.runUntil(() => a.settled && b.settled);
    expect(runs).toBe(1);
    expect(b.value).toMatchObject({ ranHere: false });
  });

  it('makes one claim per loser round: of many contenders exactly one runs', async () => {
    const { clock, instance } = setup();
    let runs = 0;
    const all = Array.from({ length: 50 }, (_, i) =>
      track(
        instance(`i${i}`).run(
          't',
          async () => {
            runs++;
            await clock.sleep(5000);
          },
          opts,
        ),
      ),
    );
    await clock.runUntil(() => all.every((t) => t.settled), 120_000, 250);
    expect(runs).toBe(1);
    expect(all.filter((t) => (t.value as { ranHere: boolean }).ranHere)).toHaveLength(1);
  });
});

describe('generations', () => {
  it('uses `initial` until reset, then a fresh scope per reset', async () => {
    const { instance } = setup();
    const a = instance('a');
    expect(await a.currentScope('t')).toBe('initial');
    let runs = 0;
    await a.run('t', () => runs++);
    await a.run('t', () => runs++);
    expect(runs).toBe(1);
    const g = await a.reset('t');
    expect(g.generation).toBe(1);
    expect(g.scope).toMatch(/^gen-1-[0-9a-z]{6}$/);
    expect(await a.currentScope('t')).toBe(g.scope);
    const out = await a.run('t', () => runs++);
    expect(out).toMatchObject({ ranHere: true, scope: g.scope });
    expect(runs).toBe(2);
    const g2 = await a.reset('t');
    expect(g2.generation).toBe(2);
    expect(g2.scope).not.toBe(g.scope);
  });

  it('turns two concurrent resets into one new generation', async () => {
    const { instance } = setup();
    const [x, y] = await Promise.all([instance('a').reset('t'), instance('b').reset('t')]);
    expect(x.generation).toBe(1);
    expect(y.generation).toBe(1);
    expect(x.scope).toBe(y.scope);
  });

  it('keeps only the last few generation slots', async () => {
    const { instance, backend, namespace } = setup();
    const a = instance('a');
    for (let i = 0; i < 9; i++) await a.reset('t');
    const slots = await backend.read([namespace, 't']);
    expect(slots.map((s) => s.index)).toEqual([5, 6, 7, 8, 9]);
  });
});

describe('status, tasks, prune', () => {
  it('lists tasks and prunes old scopes but keeps the current and running ones', async () => {
    const { clock, instance } = setup();
    const a = instance('a');
    for (const s of ['s1', 's2', 's3', 's4']) {
      await a.run('t', () => 1, { scope: s });
      await clock.advance(1000);
    }
    await a.run('u', () => 1, { scope: 'x' });
    expect(await a.tasks()).toEqual(['t', 'u']);
    const removed = await a.prune({ keep: 2, task: 't' });
    expect(removed.map((r) => r.scope).sort()).toEqual(['s1', 's2']);
    expect((await a.status('t', { scope: 's1' })).state).toBe('pending');
    expect((await a.status('t', { scope: 's4' })).state).toBe('done');
  });
});

describe('status flags', () => {
  it('marks a running attempt silent for more than three leases as stuck, with the release that frees it', async () => {
    const { clock, instance } = setup();
    const owner = instance('a');
    let started = false;
    const run = track(
      owner.run(
        't',
        async () => {
          started = true;
          await new Promise(() => {});
        },
        { ...opts, lease: '10s' },
      ),
    );
    await clock.runUntil(() => started);
    // Heartbeats keep it fresh: never stuck while its owner renews.
    await clock.advance(60_000);
    expect((await instance('x').status('t', { scope: 's1' })).attempts[0]?.stuck).toBeUndefined();
    // The owner's process froze (its heartbeats stop): the wall clock moves on, the record does not.
    const frozen = (await instance('x').status('t', { scope: 's1' })).attempts[0]?.heartbeatAt;
    clock.jumpWall(31_000);
    const s = await instance('x').status('t', { scope: 's1' });
    expect(s.attempts[0]?.heartbeatAt).toBe(frozen);
    expect(s.attempts[0]?.stuck?.release).toMatch(/^runonce release t --force --scope s1 --namespace t\d+$/);
    expect(s.attempts[0]?.stuck?.silentForMs).toBeGreaterThan(30_000);
    expect(run.settled).toBe(false);
  });
});

describe('withLock', () => {
  it('excludes concurrent holders and hands out increasing fencing tokens', async () => {
    const { clock, instance, backend, namespace } = setup();
    let inside = 0;
    let maxInside = 0;
    const tokens: number[] = [];
    const all = Array.from({ length: 10 }, (_, i) =>
      track(
        instance(`h${i}`).withLock(
          'nightly',
          async ({ fencingToken }) => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            tokens.push(fencingToken);
            await clock.sleep(1000);
            inside--;
            return fencingToken;
          },
          { lease: '15s' },
        ),
      ),
    );
    await clock.runUntil(() => all.every((t) => t.settled), 600_000, 250);
    expect(all.every((t) => t.error === undefined)).toBe(true);
    expect(maxInside).toBe(1);
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
    expect(new Set(tokens).size).toBe(10);
    // Nine waited in line (a slot each, kept while they waited); the next acquire finds the top
    // released and keeps only it and its own.
    expect((await backend.read([namespace, '_lock', 'nightly'])).length).toBe(10);
    await instance('z').withLock('nightly', () => {}, { lease: '15s' });
    expect((await backend.read([namespace, '_lock', 'nightly'])).map((s) => s.index)).toEqual([10, 11]);
    expect(await instance('z').tasks()).toEqual([]);
  });

  it('a fault injected on createNext reaches lock(): FaultyBackend keeps the wrapped backend’s createNext', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    const { clock, instance } = setup({ backend });
    const a = instance('a');
    const first = track(a.lock('nightly', { lease: '15s' }));
    await clock.runUntil(() => first.settled);
    await (first.value as { release(): Promise<void> }).release();
    expect(typeof backend.createNext).toBe('function');
    // The engine released token 1 last: the next lock() takes token 2 with createNext alone.
    backend.fault = (op) => {
      if (op === 'createNext') throw new BackendUnavailableError('injected');
    };
    const second = track(a.lock('nightly', { lease: '15s' }));
    await clock.runUntil(() => second.settled);
    expect(RunOnceError.is(second.error, ErrorCode.backendUnavailable)).toBe(true);
    expect(backend.calls.createNext).toBe(2);
  });

  it('takes the next token in one call when the backend has createNext, and keeps the 2 newest slots', async () => {
    class CountingMemory extends MemoryBackend {
      reads = 0;
      override async read(key: readonly string[]) {
        this.reads++;
        return super.read(key);
      }
    }
    const backend = new CountingMemory();
    const { instance, namespace } = setup({ backend });
    const y = instance('y');
    expect((await y.withLock('cron', () => {}, { lease: '15s' })) as unknown).toMatchObject({ fencingToken: 1 });
    const readsAfterFirst = backend.reads;
    for (let i = 2; i <= 40; i++) {
      expect(await y.withLock('cron', () => i, { lease: '15s' })).toEqual({
        acquired: true,
        fencingToken: i,
        result: i,
      });
    }
    // No read per cycle: create-if-next, then the release write.
    expect(backend.reads).toBe(readsAfterFirst);
    const kept = await backend.read([namespace, '_lock', 'cron']);
    expect(kept.map((s) => s.index)).toEqual([39, 40]);
    // Someone else took the lock meanwhile: the guess loses, a read finds the real top.
    expect((await instance('z').withLock('cron', () => {}, { lease: '15s' })) as unknown).toMatchObject({
      fencingToken: 41,
    });
    expect((await y.withLock('cron', () => {}, { lease: '15s' })) as unknown).toMatchObject({ fencingToken: 42 });
  });

  it('without createNext, prunes old slots in batches and never the 16 newest', async () => {
    // A store without the optional createNext (SSM, DynamoDB, file): the read + create path.
    const without = new MemoryBackend();
    Object.defineProperty(without, 'createNext', { value: undefined });
    const { instance, backend, namespace } = setup({ backend: new FaultyBackend(without) });
    expect(backend.createNext).toBeUndefined();
    const y = instance('y');
    for (let i = 1; i <= 40; i++) {
      expect(await y.withLock('cron', () => i, { lease: '15s' })).toEqual({
        acquired: true,
        fencingToken: i,
        result: i,
      });
      const indexes = (await backend.read([namespace, '_lock', 'cron'])).map((s) => s.index);
      expect(indexes.length).toBeLessThanOrEqual(32);
      expect(indexes.slice(-16)).toEqual(Array.from({ length: Math.min(i, 16) }, (_, k) => Math.max(i, 16) - 15 + k));
    }
  });

  it('skips or fails when held, and takes over a lock whose holder vanished', async () => {
    const { clock, instance } = setup();
    const holder = await instance('a').lock('l', { lease: '15s' });
    expect(holder?.fencingToken).toBe(1);
    expect(await instance('b').lock('l', { onBusy: 'skip' })).toBeUndefined();
    await expect(instance('b').lock('l', { onBusy: 'fail' })).rejects.toMatchObject({ code: 'E_BUSY' });
    await holder?.release();
    const next = await instance('b').lock('l', { lease: '15s' });
    expect(next?.fencingToken).toBe(2);
    // b vanishes without releasing; its heartbeats stop with it
    await next?.release().catch(() => {});
    const c = await instance('c').lock('l', { lease: '15s' });
    expect(c?.fencingToken).toBe(3);
    await c?.release();
    await clock.advance(0);
  });
});
