import { describe, expect, it } from 'vitest';
import { BACKOFF, backoffDelay, pauseBefore, type RetryPolicy, type RetryVerdict, retry } from './backoff.js';
import { FakeClock } from './clock.js';

describe('backoff: one helper for every retry and poll', () => {
  it('grows by its factor to its cap, within its jitter', () => {
    const mid = () => 0.5;
    // a waiter's polls: 250 ms ×1.5 to 5 s (±25 %: the middle of the range is the base)
    expect([0, 1, 2, 3, 20].map((r) => backoffDelay(BACKOFF.poll, r, mid))).toEqual([250, 375, 562.5, 843.75, 5000]);
    expect(backoffDelay(BACKOFF.poll, 0, () => 0)).toBe(187.5);
    expect(backoffDelay(BACKOFF.poll, 0, () => 0.999999)).toBeCloseTo(312.5, 3);
    // full jitter: anywhere from 0 to the base
    expect(backoffDelay(BACKOFF.dynamodb, 3, () => 0)).toBe(0);
    expect(backoffDelay(BACKOFF.dynamodb, 3, mid)).toBe(200);
    expect(backoffDelay(BACKOFF.dynamodb, 10, mid)).toBe(1000);
    // no jitter
    expect([0, 1, 2, 5].map((r) => backoffDelay(BACKOFF.outcome, r, () => 0.9))).toEqual([100, 200, 400, 2000]);
  });

  it('sleeps on the injected clock, never past `until`', async () => {
    const clock = new FakeClock();
    let woke = -1;
    void pauseBefore(BACKOFF.throttledRead, 4, { clock, random: () => 0.5, until: 700 }).then(() => {
      woke = clock.monotonic();
    });
    await clock.advance(699);
    expect(woke).toBe(-1);
    await clock.advance(1);
    expect(woke).toBe(700); // 200·2⁴ = 3.2 s, cut to the 700 ms left
  });
});

describe('retry: the one place a budget is counted', () => {
  const policy = (clock: FakeClock, over: Partial<RetryPolicy<string>> = {}): RetryPolicy<string> => ({
    backoff: BACKOFF.outcome,
    clock,
    random: () => 0.5,
    classify: (e) => (e as Error).message as RetryVerdict,
    throttledTries: 2,
    maybeAppliedTries: 1,
    ...over,
  });
  const failing = (...verdicts: string[]) => {
    let calls = 0;
    const op = async () => {
      const v = verdicts[calls++];
      if (v === undefined) return 'ok';
      throw new Error(v);
    };
    return { op, calls: () => calls };
  };
  const settle = async <T>(clock: FakeClock, p: Promise<T>) => {
    const out = p.then(
      (v) => ({ v }),
      (e: Error) => ({ e: e.message }),
    );
    for (let i = 0; i < 50; i++) await clock.advance(1000);
    return out;
  };

  it('counts throttled and maybe-applied tries apart, and throws the last failure as it came', async () => {
    const clock = new FakeClock();
    const a = failing('throttled', 'throttled', 'maybeApplied');
    expect(await settle(clock, retry(a.op, policy(clock)))).toEqual({ v: 'ok' });
    expect(a.calls()).toBe(4);
    const b = failing('throttled', 'throttled', 'throttled');
    expect(await settle(clock, retry(b.op, policy(clock)))).toEqual({ e: 'throttled' });
    expect(b.calls()).toBe(3);
    const c = failing('maybeApplied', 'maybeApplied');
    expect(await settle(clock, retry(c.op, policy(clock)))).toEqual({ e: 'maybeApplied' });
    const d = failing('final');
    expect(await settle(clock, retry(d.op, policy(clock)))).toEqual({ e: 'final' });
    expect(d.calls()).toBe(1);
  });

  it('pauses on the injected clock and sends nothing at or past `until`', async () => {
    const clock = new FakeClock();
    const starts: number[] = [];
    const op = async () => {
      starts.push(clock.monotonic());
      throw new Error('throttled');
    };
    const out = await settle(clock, retry(op, policy(clock, { throttledTries: 100, until: clock.monotonic() + 1000 })));
    expect(out).toEqual({ e: 'throttled' });
    const t0 = starts[0] as number;
    // 100, 200, 400 ms apart (no jitter); the next pause (800 ms) is cut at the deadline, and no fifth try starts
    expect(starts.map((s) => s - t0)).toEqual([0, 100, 300, 700]);
  });

  it('lets the backend end the call between tries, told whether a failure may have been applied', async () => {
    const clock = new FakeClock();
    const seen: boolean[] = [];
    const a = failing('throttled', 'maybeApplied', 'throttled');
    const out = await settle(
      clock,
      retry(
        a.op,
        policy(clock, {
          beforeRetry: async (maybe) => {
            seen.push(maybe);
            return seen.length === 3 ? { result: 'found' } : undefined;
          },
        }),
      ),
    );
    expect(out).toEqual({ v: 'found' });
    expect(seen).toEqual([false, true, true]);
    expect(a.calls()).toBe(3);
  });
});
