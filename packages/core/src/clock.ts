/**
 * Time as the engine sees it. Staleness is judged only on `monotonic()`;
 * `now()` (wall clock) is stored for humans and never compared across hosts.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. For display only. */
  now(): number;
  /**
   * Milliseconds on a clock that never jumps. The system clock's is
   * CLOCK_MONOTONIC, the same in every process of the host, so a deadline on
   * it can be handed to another process (runonce's keeper beside a command).
   */
  monotonic(): number;
  /** Resolves after `ms` on the monotonic clock; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

// process.hrtime, not performance.now(): the first touch of `performance` loads perf_hooks, ~2 ms of the skip path.
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => Number(process.hrtime.bigint()) / 1e6,
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * A backend's clock from its options: `clock` (default the system clock), with its pauses replaced
 * by `sleep` when one is given (tests that count or skip a backend's backoff without a FakeClock).
 */
export function clockOf(o: {
  readonly clock?: Clock | undefined;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
}): Clock {
  const clock = o.clock ?? systemClock;
  const sleep = o.sleep;
  return sleep ? { now: () => clock.now(), monotonic: () => clock.monotonic(), sleep: (ms) => sleep(ms) } : clock;
}

/** A source of numbers in [0, 1), injectable so tests can make jitter repeatable. */
export type Random = () => number;

interface Sleeper {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` wakes sleepers in time
 * order and lets the promises they release settle before moving on, so a test
 * of a 30 s lease takes milliseconds. `jumpWall(ms)` moves the wall clock alone,
 * as NTP or an operator would.
 */
export class FakeClock implements Clock {
  #mono = 0;
  #wall: number;
  #seq = 0;
  #sleepers: Sleeper[] = [];

  constructor(wallStart = Date.UTC(2026, 0, 1)) {
    this.#wall = wallStart;
  }

  now(): number {
    return this.#wall;
  }

  monotonic(): number {
    return this.#mono;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = {
        at: this.#mono + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });
  }

  /** Number of pending sleepers (useful to wait until contenders are parked). */
  get pending(): number {
    return this.#sleepers.length;
  }

  jumpWall(ms: number): void {
    this.#wall += ms;
  }

  /** Move both clocks forward by `ms`, waking every sleeper due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#sleepers = this.#sleepers.filter((s) => s !== next);
      this.#wall += next.at - this.#mono;
      this.#mono = next.at;
      next.resolve();
      await settle();
    }
    this.#wall += target - this.#mono;
    this.#mono = target;
    await settle();
  }

  /** Advance in steps until `done()` is true or `limitMs` of fake time has passed. */
  async runUntil(done: () => boolean, limitMs = 24 * 3600_000, stepMs = 50): Promise<void> {
    const end = this.#mono + limitMs;
    while (!done() && this.#mono < end) await this.advance(stepMs);
    await settle();
  }

  #earliest(): Sleeper | undefined {
    let best: Sleeper | undefined;
    for (const s of this.#sleepers) {
      if (best === undefined || s.at < best.at || (s.at === best.at && s.seq < best.seq)) best = s;
    }
    return best;
  }
}

/** Let queued promise callbacks (and in-memory backend calls) run to completion. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
