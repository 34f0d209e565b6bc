// The engine's public types: what `run()`, `lock()` and the admin calls take and give back.

import type { Backend } from './backend.js';
import type { Clock, Random } from './clock.js';
import type { Duration } from './names.js';
import type { AttemptState, ScopeState } from './states.js';

export type OnBusy = 'wait' | 'skip' | 'fail';

export interface RunOnceOptions {
  readonly backend: Backend;
  /** Isolates apps and environments (`shop-prod`). Default `default`. */
  readonly namespace?: string;
  /** Who this instance is, as stored in attempts. Default `<hostname>:<pid>`. */
  readonly owner?: string;
  readonly clock?: Clock;
  readonly random?: Random;
}

export interface RunOptions {
  /** The run-once window. Default: the task's current generation, else `initial`. */
  readonly scope?: string;
  /** What to do while another instance runs the task. Default `wait`. */
  readonly onBusy?: OnBusy;
  /** How long a silent owner is trusted. Default `30s`; heartbeats every lease/3. */
  readonly lease?: Duration;
  /** Give up waiting after this long. Default `30m`. */
  readonly waitTimeout?: Duration;
  /** Failed attempts that may be retried in the same scope. Default 0. */
  readonly retries?: number;
  /** Crashed or interrupted attempts that may be taken over. Default 3. */
  readonly maxTakeovers?: number;
  /** The caller's interruption (SIGINT/SIGTERM): aborts the task and records the attempt abandoned. */
  readonly signal?: AbortSignal;
  /**
   * How long the task takes to stop once its signal is aborted. The lease is
   * given up that much before `stopBy`, so the task can stop in time; and an
   * interruption is announced in the store at once (`stoppingWithinMs`), so
   * that if this process dies before it records `abandoned`, waiters take over
   * after this grace rather than after a whole lease. The caller promises the
   * task is gone by then (runonce's CLI keeps that promise with a process
   * beside the command). At most half the lease. Default 0: nothing announced.
   */
  readonly stopGrace?: Duration;
}

/** The lease as the one who holds it sees it: when what runs under it must be gone. */
export interface LeaseDeadline {
  /**
   * On the engine clock's `monotonic()` (CLOCK_MONOTONIC ms with the system
   * clock): the last confirmed renewal's send time + lease − a small margin.
   * After this a waiter may be about to take over.
   */
  readonly stopBy: number;
  /** Called with the new `stopBy` after each confirmed renewal; returns the unsubscribe. */
  onRenew(listener: (stopBy: number) => void): () => void;
}

export interface TaskContext extends LeaseDeadline {
  readonly namespace: string;
  readonly task: string;
  readonly scope: string;
  readonly attempt: number;
  /** Strictly increasing per scope: store it with the task's own writes. Same as `attempt`. */
  readonly fencingToken: number;
  readonly owner: string;
  /** Aborted when the lease is lost or the caller is interrupted. */
  readonly signal: AbortSignal;
}

export interface Outcome<T> {
  /** `done`, or `running` when `onBusy: 'skip'` found another instance at work. */
  readonly state: 'done' | 'running';
  readonly ranHere: boolean;
  readonly namespace: string;
  readonly task: string;
  readonly scope: string;
  /** The attempt that succeeded (or is running elsewhere). */
  readonly attempt: number;
  readonly owner: string;
  readonly finishedAt?: string | undefined;
  /** What the task returned, when it ran here. */
  readonly result?: T;
}

export interface AttemptStatus {
  readonly attempt: number;
  readonly owner: string;
  readonly state: AttemptState;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
  readonly heartbeatAt?: string;
  readonly reason?: string;
  /** On an operator's tombstone: the attempt it released. */
  readonly releases?: number;
  /**
   * On an attempt stored as `running` that a later one superseded (its owner
   * crashed or stalled and was taken over, or an operator released it): the
   * attempt above it. Such an attempt is not running any more.
   */
  readonly takenOverBy?: {
    readonly attempt: number;
    readonly owner: string;
    readonly at: string;
    readonly released: boolean;
  };
  /** On a running attempt whose owner announced it is stopping: when it said it would be gone. */
  readonly stoppingBy?: string;
  /**
   * On the latest attempt, still `running`, when its heartbeat has not changed for more than
   * three of its leases (by this host's wall clock against the one that wrote it: for humans, not
   * for decisions): how long, and the command that frees it if its owner is gone.
   */
  readonly stuck?: { readonly silentForMs: number; readonly release: string };
}

export interface TaskStatus {
  readonly namespace: string;
  readonly task: string;
  readonly scope: string;
  readonly state: ScopeState;
  readonly attempts: AttemptStatus[];
}

export interface LockOptions {
  readonly lease?: Duration;
  /** As for `run()`: how long the holder takes to stop once its signal is aborted. At most half the lease. */
  readonly stopGrace?: Duration;
  /** While someone else holds it: `wait` (default), `fail` (throws `BusyError`), or `skip` (`lock()` returns undefined). */
  readonly onBusy?: OnBusy;
  readonly waitTimeout?: Duration;
  readonly signal?: AbortSignal;
}

export interface LockHandle extends LeaseDeadline {
  readonly name: string;
  /** Strictly increasing per lock name. */
  readonly fencingToken: number;
  /** Aborted when the lease is lost. */
  readonly signal: AbortSignal;
  release(): Promise<void>;
  /**
   * Say in the store that the holder is stopping and will be gone within
   * `withinMs` (default: the lock's `stopGrace` plus the margin): renewals stop,
   * and waiters trust the lock only that long after they see it. `release()`
   * still ends it.
   */
  announceStop(withinMs?: number): Promise<void>;
}

export interface LockContext {
  readonly fencingToken: number;
  readonly signal: AbortSignal;
}

export type LockOutcome<T> =
  | { readonly acquired: true; readonly fencingToken: number; readonly result: T }
  | { readonly acquired: false };
