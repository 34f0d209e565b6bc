import type { Backend, RecordKey } from './backend.js';
import { BACKOFF, backoffDelay } from './backoff.js';
import type { Clock, Random } from './clock.js';
import { InterruptedError, WaitTimeoutError } from './errors.js';
import type { Events } from './events.js';
import { STOPPED } from './stopped.js';

/**
 * A waiter's view of time: polls with growing, jittered pauses so a fleet
 * does not hammer a rate-limited store, and judges a holder stale only after
 * seeing the same version of its slot for a whole lease on this process's
 * monotonic clock (never by comparing wall clocks across hosts).
 *
 * Where the store can notify (`watch`), a poll also ends when the record
 * changes. One watch is kept armed from the first poll to `dispose()`, and
 * re-armed before the caller re-reads, so a change after that read always
 * wakes the next poll; a change the watch misses is seen by the next poll.
 */
export class Waiter {
  readonly #start: number;
  /** Polls so far: the next pause is BACKOFF.poll's for this round. */
  #round = 0;
  #seen: { attempt: number; version: number; since: number } | undefined;
  #waited = false;
  readonly #watch: ((signal: AbortSignal) => Promise<void>) | undefined;
  /** Made on the first watch: a waiter that never polls (the lock's uncontended path) costs no controller. */
  #stop: AbortController | undefined;
  #armed: Promise<'changed'> | undefined;

  constructor(
    readonly clock: Clock,
    readonly random: Random,
    readonly timeoutMs: number,
    readonly what: string,
    watch?: (signal: AbortSignal) => Promise<void>,
  ) {
    this.#start = clock.monotonic();
    this.#watch = watch;
  }

  /** Stops the watch, if any. The engine calls it when it stops waiting, however it stops. */
  dispose(): void {
    this.#stop?.abort(STOPPED);
  }

  #arm(): Promise<'changed'> {
    const watch = this.#watch as (signal: AbortSignal) => Promise<void>;
    // A watch that fails (the store cannot notify now) never wakes anyone: the polls go on.
    this.#stop ??= new AbortController();
    return watch(this.#stop.signal).then(
      () => 'changed' as const,
      () => new Promise<never>(() => {}),
    );
  }

  elapsed(): number {
    return this.clock.monotonic() - this.#start;
  }

  expired(): boolean {
    return this.elapsed() >= this.timeoutMs;
  }

  /**
   * How long this waiter has seen the holder's slot unchanged. Reads of ours
   * that failed in between do not matter: versions only grow, so the same
   * version on two successful reads proves the holder wrote nothing between
   * them. (Restarting the clock on a failed read, as was once proposed, only
   * kept waiters under steady throttling from ever taking over from a dead
   * owner: the model test waited out a 10-minute timeout so.)
   */
  staleFor(holder: { attempt: number; version: number }): number {
    const now = this.clock.monotonic();
    const s = this.#seen;
    if (!s || s.attempt !== holder.attempt || s.version !== holder.version) {
      this.#seen = { attempt: holder.attempt, version: holder.version, since: now };
      return 0;
    }
    return now - s.since;
  }

  async poll(signal: AbortSignal | undefined): Promise<void> {
    this.#waited = true;
    const remaining = this.timeoutMs - this.elapsed();
    if (remaining <= 0)
      throw new WaitTimeoutError(`gave up waiting for ${this.what} after ${Math.round(this.elapsed())} ms`);
    const pause = Math.min(backoffDelay(BACKOFF.poll, this.#round++, this.random), remaining);
    if (!this.#watch) {
      try {
        await this.clock.sleep(pause, signal);
      } catch (reason) {
        throw new InterruptedError(`interrupted while waiting for ${this.what}`, { cause: reason });
      }
      return;
    }
    this.#armed ??= this.#arm();
    const woken = new AbortController();
    const onAbort = () => woken.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    // The timer never rejects: it loses to the watch (aborted below) or to the caller's signal (checked after).
    const timer = this.clock.sleep(pause, woken.signal).then(
      () => 'timer' as const,
      () => 'aborted' as const,
    );
    try {
      const first = await Promise.race([timer, this.#armed]);
      if (first === 'changed') this.#armed = this.#arm(); // armed again before the caller re-reads
    } finally {
      signal?.removeEventListener('abort', onAbort);
      woken.abort(STOPPED); // the timer of a poll the watch ended
    }
    if (signal?.aborted)
      throw new InterruptedError(`interrupted while waiting for ${this.what}`, { cause: signal.reason });
  }

  /** Say who holds it (a `waiting` event), then pause until the next poll. */
  async pollWhileHeld(
    events: Events,
    where: { task: string; scope: string; lock?: boolean },
    holder: { attempt: number; owner: string; startedAt: string },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { attempt, owner, startedAt } = holder;
    events.emit('waiting', { ...where, attempt, owner, startedAt, waitedMs: this.elapsed() });
    await this.poll(signal);
  }

  ended(events: Events, where: { task: string; scope: string }, outcome: string): void {
    if (this.#waited) events.emit('waited', { ...where, waitedMs: this.elapsed(), outcome });
  }
}

/** The backend's watch of one record, for a Waiter, where it has one. */
export function watchOf(backend: Backend, key: RecordKey): ((signal: AbortSignal) => Promise<void>) | undefined {
  return backend.watch
    ? (signal) => (backend.watch as NonNullable<Backend['watch']>).call(backend, key, signal)
    : undefined;
}
