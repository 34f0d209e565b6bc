import type { Backend, JsonObject, RecordKey, Slot } from './backend.js';
import { BACKOFF, backoffDelay } from './backoff.js';
import type { Clock } from './clock.js';
import { LeaseLostError, RunOnceError } from './errors.js';
import { isTombstoneValue } from './states.js';
import { STOPPED } from './stopped.js';

/** The lease's schedules have no jitter (the holder is alone in retrying its own slot). */
const NO_JITTER = () => 0.5;

export interface LeaseOptions {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly key: RecordKey;
  readonly index: number;
  /** The value as claimed; heartbeats rewrite it with a fresh `heartbeatAt`. */
  readonly value: JsonObject;
  /** The slot's version right after the claim. */
  readonly version: number;
  readonly leaseMs: number;
  /** When the winning create was sent, on the monotonic clock. */
  readonly claimedAt: number;
  /** How long a finished owner keeps trying to record `done` after its last renewal. Default 4 leases. */
  readonly outcomeBudgetMs?: number;
  /**
   * How long whatever runs under the lease takes to stop once told (a command's SIGTERM-to-SIGKILL
   * grace). The lease is given up that long before `stopBy`, so the task is gone before anyone may
   * take over. Default 0.
   */
  readonly stopGraceMs?: number;
  /**
   * Which slots above ours end our lease. Default: every one (a higher attempt, an operator's
   * tombstone). A lock passes a filter that lets waiters line up above its holder (`queued` slots)
   * without taking anything from it.
   */
  readonly isClaim?: (slot: Slot) => boolean;
  readonly onHeartbeat?: (version: number) => void;
  /** After each confirmed renewal (and once at the start): the new `stopBy`. */
  readonly onRenewed?: (stopBy: number) => void;
  readonly onLost?: (reason: string) => void;
}

/**
 * The holder's side of a lease on one slot.
 *
 * Why no takeover can happen while we renew on time: a waiter takes over only
 * after it has seen the same version of our slot for a whole lease on its own
 * monotonic clock, and it can first see a version only after we sent the
 * write that made it. So if our last confirmed write was sent at S, nobody
 * takes over before S + lease:
 *
 *   holder   S──write v──────────────S+lease/3──write v+1────── …
 *   waiter        sees v (t ≥ S) ····· sees v+1: timer restarts ……
 *
 * So whatever runs under the lease must be gone by `stopBy` = S + lease −
 * margin (the margin covers a timer firing late and a killed process taking a
 * moment to die), and the holder gives the lease up (declares itself lost,
 * which aborts the task) at the renew deadline, `stopBy − stopGrace`: early
 * enough for the task to stop within its grace. As in client-go's leader
 * election, the renew deadline is shorter than the lease. A renewal that fails
 * is retried quickly (250 ms, doubling, at most lease/3 apart) until then.
 * Before each heartbeat the holder reads the record: a higher attempt, or a
 * write to our slot that is not ours (an operator's release), also means lost.
 *
 *   0 ─ claim or renewal sent (S)    L/3, 2L/3 ─ heartbeats
 *   L − margin − grace ─ renew deadline: lost, the task is told to stop
 *   L − margin ─ stopBy: the task is gone (the CLI's keeper SIGKILLs a command)
 *   L ─ the earliest moment a waiter may take over
 */
export class Lease {
  readonly #o: LeaseOptions;
  /** The task's controller, made when someone first asks for `signal` (a lock holder that never looks costs none). */
  #task: AbortController | undefined;
  readonly #stop = new AbortController();
  #version: number;
  /** Send time of the last write that succeeded (the claim included). */
  #confirmedAt: number;
  /** Send time of the last read that showed we still hold the slot (the claim included). */
  #checkedAt: number;
  #lost: LeaseLostError | undefined;
  #inflight: Promise<boolean> = Promise.resolve(true);
  /** A renewal or the stop mark is being written (`#inflight` has not settled). */
  #busy = false;
  readonly #marginMs: number;
  readonly #graceMs: number;
  readonly #isClaim: (slot: Slot) => boolean;

  constructor(options: LeaseOptions) {
    this.#o = options;
    this.#version = options.version;
    this.#confirmedAt = options.claimedAt;
    this.#checkedAt = options.claimedAt;
    this.#marginMs = stopMarginMs(options.leaseMs);
    this.#graceMs = options.stopGraceMs ?? 0;
    this.#isClaim = options.isClaim ?? (() => true);
  }

  /**
   * When whatever runs under the lease must be gone, on the clock's monotonic
   * time: the last confirmed renewal's send time + lease − margin. Later than
   * this, a waiter that saw that renewal may be about to take over.
   */
  get stopBy(): number {
    return this.#confirmedAt + this.#o.leaseMs - this.#marginMs;
  }

  /** Aborted (with a LeaseLostError as reason) when the lease is lost. */
  get signal(): AbortSignal {
    if (!this.#task) {
      this.#task = new AbortController();
      if (this.#lost) this.#task.abort(this.#lost);
    }
    return this.#task.signal;
  }

  get lost(): LeaseLostError | undefined {
    return this.#lost;
  }

  start(): void {
    // Paused between the claim and here past the renew deadline: a waiter may be about to take over.
    if (this.#o.clock.monotonic() >= this.#renewDeadline()) {
      this.#markLost('the claim is too old to start under (this process was held up after claiming)');
      return;
    }
    this.#o.onRenewed?.(this.stopBy);
    void this.#keep();
  }

  /**
   * Tell waiters we are stopping: rewrite our slot once with `stoppingWithinMs`
   * (waiters then trust it only that long after they see it, not a whole
   * lease), and renew no more. Whoever calls this must make sure the task is
   * gone within that time of now: runonce's keeper SIGKILLs the command at the
   * end of its grace whether or not runonce is still alive. Best effort: if
   * the write fails, waiters wait out the lease as before.
   */
  announceStop(withinMs: number): Promise<void> {
    if (this.#stop.signal.aborted) return this.#inflight.then(() => {});
    this.#stop.abort(STOPPED);
    const previous = this.#inflight;
    // The final write (finish) waits for this one, so the mark can never land over `abandoned`.
    this.#inflight = this.#track(async () => {
      await previous;
      if (this.#lost) return true;
      const { backend, clock, key, index, value } = this.#o;
      try {
        await this.#check();
        const now = clock.now();
        this.#version = await backend.write(key, index, {
          ...value,
          heartbeatAt: new Date(now).toISOString(),
          stoppingAt: new Date(now + withinMs).toISOString(),
          stoppingWithinMs: Math.ceil(withinMs),
        });
      } catch {
        // lost, or the store is unreachable: waiters fall back to the lease
      }
      return true;
    });
    return this.#inflight.then(() => {});
  }

  /** Abort the task's signal for another reason (the caller was interrupted). */
  abortTask(reason: unknown): void {
    this.#task ??= new AbortController();
    this.#task.abort(reason);
  }

  /**
   * Write the slot's final value, after stopping heartbeats. Throws the
   * LeaseLostError instead when the lease is (or may be) gone.
   *
   * `confirm` (the `done` outcome): a done that is not recorded is work done
   * twice, so a finished owner keeps trying past its lease (backing off, up
   * to `outcomeBudgetMs`) for as long as no higher attempt has been claimed,
   * and always reads after its write. A taker creates and then reads, so
   * whichever of the two goes second sees the other: the owner reports its
   * lease lost when a claim above it exists, the taker voids its claim when
   * it finds `done` below it. An operator's tombstone is not a claim: the
   * work is done, and recording it keeps a taker from doing it again.
   *
   * Other outcomes (failed, abandoned) are tried until the lease runs out.
   */
  async finish(value: JsonObject, o: { confirm?: boolean } = {}): Promise<void> {
    await this.#halt();
    const { backend, clock, key, index, leaseMs } = this.#o;
    const budget = o.confirm ? Math.max(leaseMs, this.#o.outcomeBudgetMs ?? 4 * leaseMs) : leaseMs;
    let written = false;
    for (let round = 0; ; round++) {
      if (this.#lost) throw this.#lost;
      const since = clock.monotonic() - this.#confirmedAt;
      if (since >= budget) {
        throw this.#markLost(`could not record the outcome within ${budget} ms of the last renewal`);
      }
      try {
        if (!written) {
          // Heartbeats read the record every lease/3; only when the last such check is older than
          // that (heartbeats were failing), or we are past the lease, do we look again first.
          if (since >= leaseMs || clock.monotonic() - this.#checkedAt >= leaseMs / 3) {
            if (o.confirm) this.#noClaimAbove(await backend.read(key), 'before our outcome was recorded');
            else await this.#check();
          }
          await backend.write(key, index, value);
          written = true;
        }
        // The write may have landed after someone claimed above us (our lease ran out, or an
        // operator released us and a taker followed): then we must say so.
        if (o.confirm || clock.monotonic() - this.#confirmedAt >= leaseMs) {
          this.#noClaimAbove(await backend.read(key), 'while our outcome was being recorded');
        }
        return;
      } catch (e) {
        if (RunOnceError.is(e, 'E_LEASE_LOST')) throw e;
        const remaining = budget - (clock.monotonic() - this.#confirmedAt);
        if (remaining <= 0 || !isTransient(e)) {
          throw this.#markLost(`could not record the outcome: ${(e as Error).message}`, e);
        }
        await clock.sleep(Math.min(backoffDelay(BACKOFF.outcome, round, NO_JITTER), remaining));
      }
    }
  }

  /**
   * Hand our slot over to a new value and a new lease: a lock's waiter in line becomes the holder.
   * Heartbeats stop first. The write must be confirmed before our renew deadline, since from our last
   * renewal + lease on, a waiter behind us that saw that version unchanged may take over; a write
   * confirmed before then is what such a waiter reads instead. Returns the new version and when the
   * write was sent (the new lease's `claimedAt`); throws LeaseLostError when too late or refused.
   */
  async rewrite(value: JsonObject): Promise<{ version: number; sentAt: number }> {
    await this.#halt();
    if (this.#lost) throw this.#lost;
    const { backend, clock, key, index } = this.#o;
    const sentAt = clock.monotonic();
    const deadline = this.#renewDeadline();
    if (sentAt >= deadline) throw this.#markLost('too late to take over our slot (past the renew deadline)');
    const written = backend.write(key, index, value).then(
      (version) => ({ version }),
      (error: unknown) => ({ error }),
    );
    const r = await settledBefore(clock, written, deadline - sentAt);
    if (r === undefined || clock.monotonic() >= deadline) {
      throw this.#markLost('the write that takes our slot over was not confirmed before the renew deadline');
    }
    if ('error' in r) throw this.#markLost(`could not take our slot over: ${(r.error as Error).message}`, r.error);
    this.#version = r.version;
    return { version: r.version, sentAt };
  }

  /**
   * The final write, sent without waiting for its answer, where finish() would check nothing first:
   * no renewal in flight, our slot read within lease/3, and before `stopBy`. What ran under the lease
   * was done by then, so no answer can change what the caller may conclude: a write that fails leaves
   * the slot to go stale after the lease, as a crash would. Returns the write (for the caller to track)
   * or undefined where finish() must be awaited instead; throws the LeaseLostError when lost.
   */
  finishUnanswered(value: JsonObject): Promise<unknown> | undefined {
    if (this.#lost) throw this.#lost;
    const { backend, clock, key, index, leaseMs } = this.#o;
    const now = clock.monotonic();
    if (this.#busy || now >= this.stopBy || now - this.#checkedAt >= leaseMs / 3) return undefined;
    this.#stop.abort(STOPPED);
    return backend.write(key, index, value);
  }

  /** Lost if a slot above ours is a claim (an operator's tombstone is not). */
  #noClaimAbove(slots: readonly Slot[], when: string): void {
    const higher = slots.find((s) => s.index > this.#o.index && !isTombstoneValue(s.value) && this.#isClaim(s));
    if (higher) throw this.#markLost(`attempt ${higher.index} was claimed ${when}`);
  }

  /** Stop renewing without writing anything (the lease is lost, or the caller gives the slot up). */
  stop(): void {
    this.#stop.abort(STOPPED);
  }

  /**
   * Stop heartbeats before a final write. One still in flight could land after
   * that write and undo it, so wait for it, but never past the lease.
   */
  async #halt(): Promise<void> {
    this.#stop.abort(STOPPED);
    if (!this.#busy) return; // nothing in flight: the usual case, and no timer for it
    const { clock, leaseMs } = this.#o;
    const due = this.#confirmedAt + leaseMs - clock.monotonic();
    if (due <= 0) return;
    const settled = (await settledBefore(clock, this.#inflight, due)) !== undefined;
    if (!settled) this.#markLost('a heartbeat was still unanswered when the lease ran out');
  }

  /**
   * Heartbeats and the watchdog, on one timer: sleep until the next heartbeat or the renew deadline,
   * whichever is first; renew (never waiting on it past the deadline); at the deadline with no renewal
   * confirmed, give the lease up. Renewals that failed in a row are retried on BACKOFF.renewal's
   * schedule, never further apart than lease/3.
   */
  async #keep(): Promise<void> {
    const { clock, leaseMs } = this.#o;
    const stop = this.#stop.signal;
    let failed = 0;
    let nextAt = clock.monotonic() + leaseMs / 3;
    while (!stop.aborted && !this.#lost) {
      const now = clock.monotonic();
      const deadline = this.#renewDeadline();
      if (now >= deadline) {
        const within = Math.round(deadline - this.#confirmedAt);
        this.#markLost(
          `no renewal confirmed within ${within} ms of the last (lease ${leaseMs} ms): stopping before anyone may take over`,
        );
        return;
      }
      if (now < nextAt) {
        if (!(await sleepUnlessAborted(clock, Math.min(nextAt, deadline) - now, stop))) return;
        continue;
      }
      this.#inflight = this.#track(() => this.#renew());
      const ok = await settledBefore(clock, this.#inflight, deadline - now, stop);
      if (ok === undefined) continue; // the deadline came first, or we were stopped: seen above
      failed = ok ? 0 : failed + 1;
      nextAt =
        clock.monotonic() +
        (failed === 0 ? leaseMs / 3 : Math.min(backoffDelay(BACKOFF.renewal, failed - 1, NO_JITTER), leaseMs / 3));
    }
  }

  /** Run one write of ours, `#busy` while it is in flight. */
  #track(write: () => Promise<boolean>): Promise<boolean> {
    this.#busy = true;
    const done = write();
    done.then(
      () => {
        if (this.#inflight === done) this.#busy = false;
      },
      () => {},
    );
    return done;
  }

  /** One renewal; false when it failed and should be retried soon. */
  async #renew(): Promise<boolean> {
    const { backend, clock, key, index, value } = this.#o;
    const sentAt = clock.monotonic();
    if (sentAt >= this.#renewDeadline()) return true; // the watchdog calls it
    try {
      await this.#check();
      if (this.#stop.signal.aborted) return true;
      const version = await backend.write(key, index, { ...value, heartbeatAt: new Date(clock.now()).toISOString() });
      this.#version = version;
      this.#confirmedAt = Math.max(this.#confirmedAt, sentAt);
      this.#o.onHeartbeat?.(version);
      this.#o.onRenewed?.(this.stopBy);
      return true;
    } catch (e) {
      // Lost: the loop ends. Else retried soon; the watchdog decides when it is too late.
      return RunOnceError.is(e, 'E_LEASE_LOST');
    }
  }

  #renewDeadline(): number {
    return this.stopBy - this.#graceMs;
  }

  /** Read the record: we must still be the highest slot, and nobody else may have written ours. */
  async #check(): Promise<void> {
    const { backend, clock, key, index } = this.#o;
    const sentAt = clock.monotonic();
    const slots = await backend.read(key);
    const higher = slots.find((s) => s.index > index && this.#isClaim(s));
    if (higher && isTombstoneValue(higher.value)) {
      throw this.#markLost(`released by an operator (attempt ${higher.index}${reasonOf(higher.value)})`);
    }
    if (higher) throw this.#markLost(`attempt ${higher.index} exists`);
    const mine = slots.find((s) => s.index === index);
    if (!mine) throw this.#markLost('our slot was removed');
    // The version alone is not enough: a store that lost its data (Redis
    // restarted empty) lets another instance claim our index afresh, and its
    // slot can carry the very version ours had. The owner and start tell them apart.
    if (
      mine.version !== this.#version ||
      mine.value.owner !== this.#o.value.owner ||
      mine.value.startedAt !== this.#o.value.startedAt
    ) {
      const state = typeof mine.value.state === 'string' ? mine.value.state : 'unknown';
      throw this.#markLost(`our slot was rewritten by someone else (now ${state}${reasonOf(mine.value)})`);
    }
    this.#checkedAt = Math.max(this.#checkedAt, sentAt);
  }

  #markLost(reason: string, cause?: unknown): LeaseLostError {
    if (!this.#lost) {
      this.#lost = new LeaseLostError(`lease lost: ${reason}`, { cause });
      this.#o.onLost?.(reason);
      this.#task?.abort(this.#lost);
    }
    return this.#lost;
  }
}

function reasonOf(value: JsonObject): string {
  return typeof value.reason === 'string' ? `: ${value.reason}` : '';
}

/**
 * What `stopBy` keeps back from the end of the lease: a timer firing late, a
 * SIGKILLed process taking a moment to die. A twentieth of the lease, within
 * 100 ms – 1 s.
 */
export function stopMarginMs(leaseMs: number): number {
  return Math.min(1000, Math.max(100, leaseMs / 20));
}

/** Throttling and unavailability may pass; anything else (denied, corrupt) will not. */
export function isTransient(e: unknown): boolean {
  return RunOnceError.is(e, 'E_THROTTLED') || RunOnceError.is(e, 'E_BACKEND_UNAVAILABLE');
}

/** What `p` settled to, or undefined when `ms` passed or `stop` aborted first. */
async function settledBefore<T>(clock: Clock, p: Promise<T>, ms: number, stop?: AbortSignal): Promise<T | undefined> {
  const timer = new AbortController();
  const onStop = () => timer.abort(STOPPED);
  stop?.addEventListener('abort', onStop, { once: true });
  try {
    return await Promise.race([
      p,
      clock.sleep(ms, timer.signal).then(
        () => undefined,
        () => undefined,
      ),
    ]);
  } finally {
    stop?.removeEventListener('abort', onStop);
    timer.abort(STOPPED);
  }
}

async function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

/** The listeners of one lease's renewals (`ctx.onRenew`, a lock handle's `onRenew`). */
export class Renewals {
  readonly #listeners = new Set<(stopBy: number) => void>();
  onRenew(listener: (stopBy: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  renewed(stopBy: number): void {
    for (const l of this.#listeners) l(stopBy);
  }
}
