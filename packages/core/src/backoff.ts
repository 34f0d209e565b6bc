// Pauses between tries, in one place: every retry and poll in the engine and the backends is one of
// the schedules below, on an injected clock and random source (a test's FakeClock moves them all).
import type { Clock, Random } from './clock.js';

/**
 * A schedule: the pause before try `round` (0-based) is `firstMs · factor^round`, at most `capMs`,
 * times a random factor in [`jitter[0]`, `jitter[1]`): `[0, 1]` is full jitter, `[1, 1]` none.
 */
export interface Backoff {
  readonly firstMs: number;
  readonly factor: number;
  readonly capMs: number;
  readonly jitter: readonly [number, number];
}

/** The pause before try `round` of `b`; `random` in [0, 1). */
export function backoffDelay(b: Backoff, round: number, random: Random): number {
  const base = Math.min(b.capMs, b.firstMs * b.factor ** round);
  const [low, high] = b.jitter;
  return base * (low + (high - low) * random());
}

/**
 * The schedules, each owned here: a waiter's polls (the bench draws them from this too), the engine's
 * re-reads of a throttled record, a holder's renewal retries (capped at lease/3 by the lease) and
 * final-write retries, and the backends' retries of throttled or failed requests.
 */
export const BACKOFF = Object.freeze({
  /** A waiter: 250 ms growing ×1.5 to 5 s, ±25 %, so a fleet does not poll in step. */
  poll: { firstMs: 250, factor: 1.5, capMs: 5000, jitter: [0.75, 1.25] },
  /** The engine re-reading a record the store throttled. */
  throttledRead: { firstMs: 200, factor: 2, capMs: 5000, jitter: [0.5, 1.5] },
  /** A holder retrying a failed renewal before its renew deadline. */
  renewal: { firstMs: 250, factor: 2, capMs: Number.POSITIVE_INFINITY, jitter: [1, 1] },
  /** A finished owner retrying its outcome's write. */
  outcome: { firstMs: 100, factor: 2, capMs: 2000, jitter: [1, 1] },
  /** SSM: full jitter from 200 ms, doubling to 10 s (its options may change both ends). */
  ssm: { firstMs: 200, factor: 2, capMs: 10_000, jitter: [0, 1] },
  /** DynamoDB: full jitter from 50 ms, doubling to 2 s. */
  dynamodb: { firstMs: 50, factor: 2, capMs: 2000, jitter: [0, 1] },
  /** S3: full jitter from 100 ms, doubling to 5 s (SlowDown asks for a pause, and a 409 clears in milliseconds). */
  s3: { firstMs: 100, factor: 2, capMs: 5000, jitter: [0, 1] },
  /** The file backend waiting for a slot's lock file: 1–5 ms, growing to 50 ms, so writers do not retry in step. */
  fileLock: { firstMs: 5, factor: 2, capMs: 50, jitter: [0.2, 1] },
} as const satisfies Record<string, Backoff>);

/** Sleep the pause before try `round`, never past `until` (a monotonic time on `clock`). */
export function pauseBefore(
  b: Backoff,
  round: number,
  o: { clock: Clock; random: Random; until?: number; signal?: AbortSignal },
): Promise<void> {
  let ms = backoffDelay(b, round, o.random);
  if (o.until !== undefined) ms = Math.min(ms, o.until - o.clock.monotonic());
  return o.clock.sleep(Math.max(0, Math.floor(ms)), o.signal);
}

/**
 * What a backend says of a failed call, and all it decides: core's `retry` owns the pauses and the
 * budgets. `throttled`: refused before it ran, certainly not applied. `maybeApplied`: the service or
 * the network failed and the call may have taken effect. `final`: an answer; do not send it again.
 */
export type RetryVerdict = 'throttled' | 'maybeApplied' | 'final';

export interface RetryPolicy<T> {
  readonly backoff: Backoff;
  readonly clock: Clock;
  readonly random: Random;
  /** The backend's classification of a failure. */
  readonly classify: (error: unknown) => RetryVerdict;
  /** How many more tries a throttled call gets. */
  readonly throttledTries: number;
  /** How many more tries a call that may have been applied gets (the call must be safe to repeat). */
  readonly maybeAppliedTries: number;
  /** No try starts at or after this monotonic time on `clock`, and no pause runs past it. */
  readonly until?: number;
  /**
   * After the pause, before the next try: a result here ends the call without sending it again (SSM's
   * throttled create re-reads and may find it lost). `maybeApplied` is true once any failure so far may
   * have taken effect.
   */
  readonly beforeRetry?: (maybeApplied: boolean) => Promise<{ readonly result: T } | undefined>;
  readonly signal?: AbortSignal;
}

/**
 * `op` until it succeeds or the policy says stop; then the last failure is thrown as it came, for the
 * backend to map. Each budget is counted here and only here: the throttled and maybe-applied tries, and
 * the deadline.
 */
export async function retry<T>(op: () => Promise<T>, policy: RetryPolicy<T>): Promise<T> {
  let throttled = 0;
  let maybe = 0;
  for (let round = 0; ; round++) {
    try {
      return await op();
    } catch (e) {
      const verdict = policy.classify(e);
      const inTime = policy.until === undefined || policy.clock.monotonic() < policy.until;
      if (verdict === 'final' || !inTime) throw e;
      if (verdict === 'throttled' ? throttled++ >= policy.throttledTries : maybe++ >= policy.maybeAppliedTries) throw e;
      await pauseBefore(policy.backoff, round, policy);
      if (policy.until !== undefined && policy.clock.monotonic() >= policy.until) throw e;
      const early = await policy.beforeRetry?.(maybe > 0);
      if (early) return early.result;
    }
  }
}
