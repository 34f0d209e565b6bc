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
  /**
   * Per slot watched (a lock's queued waiter may look past a dead one to the slot below): whose claim,
   * its version, and since when. Owner and start tell a claim from a new one under the same index (a
   * store that lost its data lets someone claim it afresh, at version 1 again), as the lease checks too.
   */
  readonly #seen = new Map<number, { version: number; since: number; owner?: string; startedAt?: string }>();
  #waited = false;
  readonly #watch: Watch | undefined;
  /** Made on the first watch: a waiter that never polls (the lock's uncontended path) costs no controller. */
  #stop: AbortController | undefined;
  #armed: Promise<'changed'> | undefined;
  /** The one slot the armed watch is for; undefined: the whole record. */
  #target: number | undefined;

  constructor(
    readonly clock: Clock,
    readonly random: Random,
    readonly timeoutMs: number,
    readonly what: string,
    watch?: Watch,
  ) {
    this.#start = clock.monotonic();
    this.#watch = watch;
  }

  /** Stops the watch, if any. The engine calls it when it stops waiting, however it stops. */
  dispose(): void {
    this.#stop?.abort(STOPPED);
  }

  /**
   * Watch only `slot` from now on (a lock's queued waiter and the slot ahead of it). When that changes
   * the target, the watch is armed again at once, before the caller's next read, so nothing that read
   * misses can be missed by the watch too; returns true then: the caller must read again before it
   * waits. A waiter without a watch has nothing to aim: false.
   */
  watchSlot(slot: number): boolean {
    if (!this.#watch || (this.#armed && this.#target === slot)) return false;
    this.#target = slot;
    this.#stop?.abort(STOPPED);
    this.#stop = new AbortController();
    this.#armed = this.#arm();
    return true;
  }

  #arm(): Promise<'changed'> {
    const watch = this.#watch as Watch;
    // A watch that fails (the store cannot notify now) never wakes anyone: the polls go on.
    this.#stop ??= new AbortController();
    return watch(this.#stop.signal, this.#target).then(
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
  staleFor(holder: { attempt: number; version: number; owner?: string; startedAt?: string }): number {
    const now = this.clock.monotonic();
    const s = this.#seen.get(holder.attempt);
    if (!s || s.version !== holder.version || s.owner !== holder.owner || s.startedAt !== holder.startedAt) {
      const { version, owner, startedAt } = holder;
      this.#seen.set(holder.attempt, { version, since: now, owner, startedAt });
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

/** A backend's watch of one record, bound to it: resolves at a change (of `slot` only, where named). */
export type Watch = (signal: AbortSignal, slot?: number) => Promise<void>;

/** The backend's watch of one record, for a Waiter, where it has one. */
export function watchOf(backend: Backend, key: RecordKey): Watch | undefined {
  return backend.watch
    ? (signal, slot) => (backend.watch as NonNullable<Backend['watch']>).call(backend, key, signal, slot)
    : undefined;
}
