import { describe, expect, it } from 'vitest';
import { BACKOFF, backoffDelay, pauseBefore } from './backoff.js';
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
