import { hostname } from 'node:os';
import type { Backend, JsonObject, RecordKey, Slot } from './backend.js';
import { type Clock, type Random, systemClock } from './clock.js';
import { decide } from './decide.js';
import {
  BusyError,
  CorruptStateError,
  InterruptedError,
  RunOnceError,
  TaskFailedError,
  UsageError,
  WaitTimeoutError,
} from './errors.js';
import { Events, type RunOnceEventName, type RunOnceEvents } from './events.js';
import { Lease, stopMarginMs } from './lease.js';
import { type Duration, formatDuration, parseDuration, validateName, validateScope } from './names.js';
import {
  type Attempt,
  AttemptState,
  decodeAttempt,
  encodeAttempt,
  isTombstone,
  type ScopeState,
  viewScope,
} from './states.js';

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

const DEFAULT_LEASE = '30s';
const DEFAULT_WAIT_TIMEOUT = '30m';
const DEFAULT_MAX_TAKEOVERS = 3;
const POLL_START_MS = 250;
const POLL_CAP_MS = 5000;
const KEEP_GENERATIONS = 5;
const LOCK_SEGMENT = '_lock';
/**
 * How long the engine keeps re-reading a record the backend reported throttled
 * (each backend read has its own retries and budget inside).
 */
const READ_RETRY_BUDGET_MS = 60_000;
/** Lock slots kept before old ones are pruned in one batch. */
const LOCK_HISTORY = 16;

/**
 * The run-once engine. Every decision (claim, staleness, takeover, retry)
 * lives here; the backend only stores numbered slots.
 */
export class RunOnce {
  readonly namespace: string;
  readonly owner: string;
  readonly #backend: Backend;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #events = new Events();
  /** Per lock name, the fencing token this engine released last (for createNext). */
  readonly #released = new Map<string, number>();

  constructor(options: RunOnceOptions) {
    if (!options?.backend) throw new UsageError('RunOnce needs a backend');
    this.#backend = options.backend;
    this.namespace = validateName('namespace', options.namespace ?? 'default');
    this.owner = options.owner ?? `${hostname()}:${process.pid}`;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get backend(): Backend {
    return this.#backend;
  }

  on<E extends RunOnceEventName>(event: E, listener: (payload: RunOnceEvents[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Run `fn` once per scope across every instance sharing the backend and namespace. */
  async run<T>(task: string, fn: (ctx: TaskContext) => Promise<T> | T, options: RunOptions = {}): Promise<Outcome<T>> {
    validateName('task', task);
    const o = this.#runOptions(options);
    const scope = options.scope !== undefined ? validateScope(options.scope) : await this.currentScope(task);
    const key: RecordKey = [this.namespace, task, scope];
    const where = `${this.namespace}/${task}/${scope}`;
    const base = { namespace: this.namespace, task, scope };
    const wait = new Waiter(this.#clock, this.#random, o.waitTimeoutMs, `${task} (scope ${scope})`);

    // The latest attempt this instance has seen, to notice a store that forgot it.
    let seen: Attempt | undefined;
    for (;;) {
      if (o.signal?.aborted)
        throw new InterruptedError(`interrupted before claiming ${task}`, { cause: o.signal.reason });
      const view = viewScope((await this.#read(key, wait)).map((s) => decodeAttempt(s, where)));
      const { latest } = view;
      if (!view.done && seen && (!latest || (latest.attempt === seen.attempt && latest.version < seen.version))) {
        // Versions only grow and attempts are never deleted while a scope is in use: the store lost
        // data (restarted without persistence, or someone deleted the record). Running the task
        // again on that could repeat work that was done; say so and run nothing.
        throw new CorruptStateError(
          `${where}: state lost: attempt ${seen.attempt} (${seen.state} on ${seen.owner}) is gone from the store, or was written again from scratch; not running the task. Was the store restarted without persistence? Check whether the task ran, then run it again (or \`runonce reset\`)`,
        );
      }
      if (latest) seen = latest;

      // SPEC's table, in decide.ts; what follows carries out its answer.
      const unchanged = latest?.state === AttemptState.running ? wait.staleFor(latest) : 0;
      const decision = decide(view, unchanged, o);
      if (decision.action === 'skip' && decision.reason === 'done') {
        wait.ended(this.#events, { task, scope }, 'done');
        const d = decision.attempt;
        this.#events.emit('skipped', {
          task,
          scope,
          reason: 'done',
          attempt: d.attempt,
          owner: d.owner,
          finishedAt: d.finishedAt,
        });
        return { ...base, state: 'done', ranHere: false, attempt: d.attempt, owner: d.owner, finishedAt: d.finishedAt };
      }
      if (decision.action === 'skip') {
        const { attempt, owner } = decision.attempt;
        this.#events.emit('skipped', { task, scope, reason: 'busy', attempt, owner });
        return { ...base, state: 'running', ranHere: false, attempt, owner };
      }
      if (decision.action === 'busy') {
        const { attempt, owner } = decision.attempt;
        throw new BusyError(`${task} (scope ${scope}) is running on ${owner} (attempt ${attempt})`, { owner, attempt });
      }
      if (decision.action === 'wait') {
        await wait.pollWhileHeld(this.#events, { task, scope }, decision.attempt, o.signal);
        continue;
      }
      if (decision.action === 'fail' && decision.reason === 'failed') {
        wait.ended(this.#events, { task, scope }, 'failed');
        throw failedElsewhere(task, scope, decision.attempt, decision.failures);
      }
      if (decision.action === 'fail') {
        const last = decision.attempt;
        throw new TaskFailedError(
          `${task} (scope ${scope}) was interrupted or crashed ${decision.takeovers} times (max takeovers ${o.maxTakeovers}); last on ${last.owner}`,
          {
            task,
            scope,
            attempt: last.attempt,
            owner: last.owner,
            error: last.reason,
            ranHere: false,
            kind: 'takeovers',
          },
        );
      }
      const { attempt, takeover } = decision;

      const startedAt = new Date(this.#clock.now()).toISOString();
      const value = encodeAttempt({ state: AttemptState.running, owner: this.owner, startedAt, leaseMs: o.leaseMs });
      const sentAt = this.#clock.monotonic();
      const created = await this.#backend.create(key, attempt, value);
      if (!created.won) continue; // someone else claimed it first: look again at once
      if (takeover) {
        const late = await this.#afterTakeover(key, where, attempt, takeover);
        if (late === 'finished') {
          // Our claim raced the old owner's last write; its outcome stands, our claim is void.
          await this.#backend.removeSlot(key, attempt);
          continue;
        }
        if (late === 'superseded') {
          // So slow that a later instance already took over from us: we never started.
          const reason = 'superseded before it started';
          const finishedAt = new Date(this.#clock.now()).toISOString();
          await this.#backend.write(key, attempt, { ...value, state: AttemptState.abandoned, reason, finishedAt });
          continue;
        }
      }
      wait.ended(this.#events, { task, scope }, 'claimed');
      this.#events.emit('claimed', { task, scope, attempt, owner: this.owner, takeover: takeover !== undefined });
      if (takeover) {
        this.#events.emit('takeover', {
          task,
          scope,
          attempt,
          previous: { attempt: takeover.attempt, owner: takeover.owner, state: takeover.state },
        });
      }
      return this.#execute(fn, {
        key,
        where: { task, scope },
        attempt,
        value,
        version: created.version,
        sentAt,
        o,
        startedAt,
      });
    }
  }

  async #execute<T>(
    fn: (ctx: TaskContext) => Promise<T> | T,
    c: {
      key: RecordKey;
      where: { task: string; scope: string };
      attempt: number;
      value: JsonObject;
      version: number;
      sentAt: number;
      startedAt: string;
      o: ResolvedRunOptions;
    },
  ): Promise<Outcome<T>> {
    const { task, scope } = c.where;
    const lease = new Lease({
      backend: this.#backend,
      clock: this.#clock,
      key: c.key,
      index: c.attempt,
      value: c.value,
      version: c.version,
      leaseMs: c.o.leaseMs,
      claimedAt: c.sentAt,
      stopGraceMs: c.o.stopGraceMs,
      onHeartbeat: (version) => this.#events.emit('heartbeat', { task, scope, attempt: c.attempt, version }),
      onRenewed: (stopBy) => deadline.renewed(stopBy),
      onLost: (reason) => this.#events.emit('lost', { task, scope, attempt: c.attempt, reason }),
    });
    const deadline = new Deadline();
    const interrupt = () => {
      lease.abortTask(new InterruptedError(`interrupted: ${describeReason(c.o.signal?.reason)}`));
      if (c.o.stopGraceMs > 0) void lease.announceStop(c.o.stopGraceMs + stopMarginMs(c.o.leaseMs));
    };
    c.o.signal?.addEventListener('abort', interrupt, { once: true });
    if (c.o.signal?.aborted) interrupt();
    lease.start();
    if (lease.lost) throw lease.lost;
    const t0 = this.#clock.monotonic();
    const ctx: TaskContext = {
      namespace: this.namespace,
      task,
      scope,
      attempt: c.attempt,
      fencingToken: c.attempt,
      owner: this.owner,
      signal: lease.signal,
      get stopBy() {
        return lease.stopBy;
      },
      onRenew: (listener) => deadline.onRenew(listener),
    };
    const base = { state: AttemptState.running, owner: this.owner, startedAt: c.startedAt, leaseMs: c.o.leaseMs };
    let result: T;
    try {
      result = await fn(ctx);
    } catch (error) {
      c.o.signal?.removeEventListener('abort', interrupt);
      const finishedAt = new Date(this.#clock.now()).toISOString();
      const durationMs = this.#clock.monotonic() - t0;
      if (lease.lost) {
        lease.stop();
        throw lease.lost;
      }
      const message = errorMessage(error);
      if (c.o.signal?.aborted) {
        const reason = `interrupted: ${describeReason(c.o.signal.reason)}`;
        await lease.finish(
          encodeAttempt({ ...base, state: AttemptState.abandoned, finishedAt, reason, error: message }),
        );
        this.#events.emit('abandoned', { task, scope, attempt: c.attempt, reason });
        throw new InterruptedError(`${task} (scope ${scope}) attempt ${c.attempt} ${reason}`, { cause: error });
      }
      const exitCode = exitCodeOf(error);
      await lease.finish(encodeAttempt({ ...base, state: AttemptState.failed, finishedAt, exitCode, error: message }));
      this.#events.emit('failed', { task, scope, attempt: c.attempt, exitCode, error: message, durationMs });
      throw new TaskFailedError(
        `${task} (scope ${scope}) failed on attempt ${c.attempt}: ${message}`,
        { task, scope, attempt: c.attempt, owner: this.owner, exitCode, error: message, finishedAt, ranHere: true },
        { cause: error },
      );
    }
    c.o.signal?.removeEventListener('abort', interrupt);
    const finishedAt = new Date(this.#clock.now()).toISOString();
    if (lease.lost) {
      lease.stop();
      throw lease.lost;
    }
    await lease.finish(encodeAttempt({ ...base, state: AttemptState.done, finishedAt, exitCode: 0 }), {
      confirm: true,
    });
    this.#events.emit('done', { task, scope, attempt: c.attempt, durationMs: this.#clock.monotonic() - t0 });
    return {
      namespace: this.namespace,
      task,
      scope,
      state: 'done',
      ranHere: true,
      attempt: c.attempt,
      owner: this.owner,
      finishedAt,
      result,
    };
  }

  /**
   * After taking over, look once more: the old owner may have recorded its
   * outcome after we judged it dead. It writes then reads (when late); we
   * create then read. Whichever went second sees the other:
   *
   *   old owner   ──write done──────────read: no n+1 → keeps done
   *   taker          (stale read)   ──create n+1──read: sees done → voids n+1
   *
   *   old owner   ──write done──read: sees n+1 → reports its lease lost
   *   taker        ──create n+1───────────────read: sees done → voids n+1
   */
  async #afterTakeover(
    key: RecordKey,
    where: string,
    attempt: number,
    previous: Attempt,
  ): Promise<'ok' | 'finished' | 'superseded'> {
    const now = (await this.#read(key)).map((s) => decodeAttempt(s, where));
    // Void if the old attempt finished after all: `done` anywhere below, or the very attempt we
    // judged dead recorded its failure. After an operator's tombstone only `done` counts: the
    // release already ended that attempt (and its failure would leave the tombstone on top, so
    // voiding on it would claim and void for ever).
    const finished = now.some(
      (a) =>
        a.attempt < attempt &&
        (a.state === AttemptState.done ||
          (!isTombstone(previous) && a.attempt === previous.attempt && a.state === AttemptState.failed)),
    );
    if (finished) return 'finished';
    return now.some((a) => a.attempt > attempt) ? 'superseded' : 'ok';
  }

  /** The scope a run uses when none is given: the current generation, else `initial`. */
  async currentScope(task: string): Promise<string> {
    validateName('task', task);
    const latest = (await this.#read([this.namespace, task])).at(-1);
    if (!latest) return 'initial';
    const scope = latest.value.scope;
    if (typeof scope !== 'string' || latest.value.v !== 1) {
      throw new CorruptStateError(
        `${this.namespace}/${task}: generation ${latest.index} holds a value runonce did not write`,
      );
    }
    return validateScope(scope);
  }

  /**
   * Start a new generation: the next run of the task (without an explicit
   * scope) claims a fresh scope. Two concurrent resets yield one new generation.
   * `scope` names the new generation's scope (a build id) instead of a random one.
   */
  async reset(
    task: string,
    options: { scope?: string } = {},
  ): Promise<{ task: string; scope: string; generation: number }> {
    validateName('task', task);
    const given = options.scope !== undefined ? validateScope(options.scope) : undefined;
    const key: RecordKey = [this.namespace, task];
    for (;;) {
      const slots = await this.#read(key);
      const generation = (slots.at(-1)?.index ?? 0) + 1;
      const scope = given ?? `gen-${generation}-${randomSuffix(this.#random)}`;
      const value: JsonObject = {
        v: 1,
        scope,
        createdAt: new Date(this.#clock.now()).toISOString(),
        by: this.owner,
      };
      const created = await this.#backend.create(key, generation, value);
      if (!created.won) {
        const winner = (await this.#read(key)).find((s) => s.index === generation);
        if (winner && typeof winner.value.scope === 'string') return { task, scope: winner.value.scope, generation };
        continue;
      }
      for (const old of slots) {
        if (old.index <= generation - KEEP_GENERATIONS) await this.#backend.removeSlot(key, old.index);
      }
      return { task, scope, generation };
    }
  }

  /** State and attempts of a task's scope (the current generation's when none is given). */
  async status(task: string, options: { scope?: string } = {}): Promise<TaskStatus> {
    validateName('task', task);
    const scope = options.scope !== undefined ? validateScope(options.scope) : await this.currentScope(task);
    const where = `${this.namespace}/${task}/${scope}`;
    const view = viewScope((await this.#read([this.namespace, task, scope])).map((s) => decodeAttempt(s, where)));
    const attempts = view.attempts.map((a, i) => toStatus(a, view.attempts[i + 1]));
    return { namespace: this.namespace, task, scope, state: view.state, attempts };
  }

  /** The tasks of this namespace that have any state, sorted. */
  async tasks(): Promise<string[]> {
    const keys = await this.#backend.list([this.namespace]);
    const names = new Set<string>();
    for (const k of keys) if (k[1] !== undefined && k[1] !== LOCK_SEGMENT) names.add(k[1]);
    return [...names].sort();
  }

  /**
   * Operator's release of a running attempt n, so the next instance takes
   * over at once instead of waiting a lease. Never a write into the owner's
   * slot: it claims n+1 as a tombstone (`abandoned`, `releases: n`) with the
   * one atomic create. The owner, if alive, finds a higher attempt at its next
   * heartbeat and stops; one that is finishing records `done` and then reads,
   * while a taker claims n+2 and then reads, so whichever goes second sees the
   * other (see #afterTakeover):
   *
   *   operator  ──create n+1 (tombstone)
   *   owner        ──────────write done──read: no claim above n → done stands
   *   taker                ──create n+2──────────read: sees done → voids n+2
   *
   * The attempt number skips one; takeover counts ignore tombstones.
   */
  async release(
    task: string,
    options: { scope?: string; reason?: string } = {},
  ): Promise<{ scope: string; released?: Attempt; tombstone?: number }> {
    validateName('task', task);
    const scope = options.scope !== undefined ? validateScope(options.scope) : await this.currentScope(task);
    const key: RecordKey = [this.namespace, task, scope];
    const where = `${this.namespace}/${task}/${scope}`;
    const view = viewScope((await this.#read(key)).map((s) => decodeAttempt(s, where)));
    const latest = view.latest;
    if (!latest || latest.state !== AttemptState.running) return { scope };
    const now = new Date(this.#clock.now()).toISOString();
    const tombstone = encodeAttempt({
      state: AttemptState.abandoned,
      owner: this.owner,
      startedAt: now,
      finishedAt: now,
      leaseMs: latest.leaseMs,
      reason: options.reason ?? `released by ${this.owner}`,
      releases: latest.attempt,
    });
    const created = await this.#backend.create(key, latest.attempt + 1, tombstone);
    // Someone claimed n+1 first (a takeover, or another release): attempt n is superseded already.
    if (!created.won) return { scope };
    return { scope, released: latest, tombstone: latest.attempt + 1 };
  }

  /**
   * Delete old scopes, keeping the `keep` most recently started ones of each
   * task and always the current generation's. Running scopes are kept.
   */
  async prune(options: { keep?: number; task?: string } = {}): Promise<{ task: string; scope: string }[]> {
    const keep = options.keep ?? 5;
    if (!Number.isInteger(keep) || keep < 0) throw new UsageError(`--keep must be a whole number >= 0, got ${keep}`);
    const tasks = options.task !== undefined ? [validateName('task', options.task)] : await this.tasks();
    const removed: { task: string; scope: string }[] = [];
    for (const task of tasks) {
      const current = await this.currentScope(task);
      const scopes: { scope: string; startedAt: string; running: boolean }[] = [];
      for (const key of await this.#backend.list([this.namespace, task])) {
        const scope = key[2];
        if (key.length !== 3 || scope === undefined) continue;
        const slots = await this.#read(key);
        const latest = slots.at(-1);
        const startedAt = typeof latest?.value.startedAt === 'string' ? latest.value.startedAt : '';
        scopes.push({ scope, startedAt, running: latest?.value.state === AttemptState.running });
      }
      scopes.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
      for (const [i, s] of scopes.entries()) {
        if (i < keep || s.scope === current || s.running) continue;
        await this.#backend.remove([this.namespace, task, s.scope]);
        removed.push({ task, scope: s.scope });
      }
    }
    return removed;
  }

  /**
   * A fenced mutex: acquire, run `fn`, release. Returns `{ acquired: false }`
   * only with `onBusy: 'skip'`. `fn`'s signal aborts if the lease is lost.
   */
  async withLock<T>(
    name: string,
    fn: (ctx: LockContext) => Promise<T> | T,
    options: LockOptions = {},
  ): Promise<LockOutcome<T>> {
    const handle = await this.lock(name, options);
    if (!handle) return { acquired: false };
    let result: T;
    try {
      result = await fn({ fencingToken: handle.fencingToken, signal: handle.signal });
    } catch (error) {
      await handle.release().catch(() => {});
      throw error;
    }
    await handle.release();
    return { acquired: true, fencingToken: handle.fencingToken, result };
  }

  /** Acquire a lock, waiting (default) or throwing `BusyError` (`onBusy: 'fail'`) while someone holds it. */
  lock(name: string, options?: LockOptions & { readonly onBusy?: 'wait' | 'fail' }): Promise<LockHandle>;
  /** With `onBusy: 'skip'`: undefined while someone else holds the lock. */
  lock(name: string, options: LockOptions): Promise<LockHandle | undefined>;
  async lock(name: string, options: LockOptions = {}): Promise<LockHandle | undefined> {
    validateName('lock', name);
    const leaseMs = leaseOf(options.lease);
    const stopGraceMs = stopGraceOf(options.stopGrace, leaseMs);
    const onBusy = options.onBusy ?? 'wait';
    const key: RecordKey = [this.namespace, LOCK_SEGMENT, name];
    const wait = new Waiter(
      this.#clock,
      this.#random,
      parseDuration(options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, 'wait timeout'),
      `lock ${name}`,
    );
    const where = { task: name, scope: LOCK_SEGMENT, lock: true };
    const createNext = this.#backend.createNext?.bind(this.#backend);
    // The token this engine released last: if nobody took the lock since, the
    // next one is free, and a backend with createNext checks that as it creates.
    let guess = createNext ? this.#released.get(name) : undefined;
    for (;;) {
      if (options.signal?.aborted) throw new InterruptedError(`interrupted before acquiring lock ${name}`);
      let token: number;
      let slots: Slot[] = [];
      let takeover = false;
      if (guess !== undefined) {
        token = guess + 1;
        guess = undefined;
      } else {
        slots = await this.#read(key, wait);
        const latest = slots.at(-1);
        const holder = latest && decodeLockSlot(latest, `${this.namespace}/lock/${name}`);
        if (holder?.held && wait.staleFor(holder) < holder.trustMs) {
          if (onBusy === 'skip') return undefined;
          if (onBusy === 'fail') {
            throw new BusyError(`lock ${name} is held by ${holder.owner} (token ${holder.attempt})`, holder);
          }
          await wait.pollWhileHeld(this.#events, where, holder, options.signal);
          continue;
        }
        token = (latest?.index ?? 0) + 1;
        takeover = holder?.held === true;
      }
      const value: JsonObject = {
        v: 1,
        state: 'held',
        owner: this.owner,
        startedAt: new Date(this.#clock.now()).toISOString(),
        leaseMs,
      };
      const sentAt = this.#clock.monotonic();
      const created = createNext
        ? await createNext(key, token, value, LOCK_HISTORY)
        : await this.#backend.create(key, token, value);
      if (!created.won) continue;
      this.#released.delete(name);
      this.#events.emit('claimed', { ...where, attempt: token, owner: this.owner, takeover });
      const lease = new Lease({
        backend: this.#backend,
        clock: this.#clock,
        key,
        index: token,
        value,
        version: created.version,
        leaseMs,
        claimedAt: sentAt,
        stopGraceMs,
        onHeartbeat: (version) => this.#events.emit('heartbeat', { ...where, attempt: token, version }),
        onRenewed: (stopBy) => deadline.renewed(stopBy),
        onLost: (reason) => this.#events.emit('lost', { ...where, attempt: token, reason }),
      });
      const deadline = new Deadline();
      lease.start();
      if (lease.lost) throw lease.lost;
      let released = false;
      return {
        name,
        fencingToken: token,
        signal: lease.signal,
        get stopBy() {
          return lease.stopBy;
        },
        onRenew: (listener) => deadline.onRenew(listener),
        announceStop: (withinMs = stopGraceMs + stopMarginMs(leaseMs)) => lease.announceStop(withinMs),
        release: async () => {
          if (released) return;
          released = true;
          await lease.finish({ ...value, state: 'released', releasedAt: new Date(this.#clock.now()).toISOString() });
          if (createNext) {
            this.#released.set(name, token);
            return;
          }
          // Older holders' slots are history (createNext drops them as it goes). Prune
          // them in batches, not on every release: one round trip less per cycle. Only
          // slots LOCK_HISTORY below ours go, so a contender that read long ago and
          // creates late finds its index taken rather than free; the newest stays, so
          // tokens keep increasing.
          const old = slots.filter((s) => s.index <= token - LOCK_HISTORY);
          if (old.length >= LOCK_HISTORY) {
            await Promise.all(old.map((s) => this.#backend.removeSlot(key, s.index).catch(() => {})));
          }
        },
      };
    }
  }

  async close(): Promise<void> {
    await this.#backend.close();
  }

  async #read(key: RecordKey, wait?: Waiter): Promise<Slot[]> {
    // A throttled read tells nothing; poll again after a pause rather than fail the run,
    // but not past a waiter's timeout.
    let delay = 200;
    const t0 = this.#clock.monotonic();
    for (let i = 0; ; i++) {
      try {
        return await this.#backend.read(key);
      } catch (e) {
        const late = wait?.expired() || this.#clock.monotonic() - t0 >= READ_RETRY_BUDGET_MS;
        if (!RunOnceError.is(e, 'E_THROTTLED') || i >= 8 || late) throw e;
        await this.#clock.sleep(delay * (0.5 + this.#random()));
        delay = Math.min(delay * 2, POLL_CAP_MS);
      }
    }
  }

  #runOptions(options: RunOptions): ResolvedRunOptions {
    const retries = options.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0)
      throw new UsageError(`retries must be a whole number >= 0, got ${retries}`);
    const maxTakeovers = options.maxTakeovers ?? DEFAULT_MAX_TAKEOVERS;
    if (!Number.isInteger(maxTakeovers) || maxTakeovers < 0) {
      throw new UsageError(`maxTakeovers must be a whole number >= 0, got ${maxTakeovers}`);
    }
    const onBusy = options.onBusy ?? 'wait';
    if (onBusy !== 'wait' && onBusy !== 'skip' && onBusy !== 'fail') {
      throw new UsageError(`onBusy must be wait, skip or fail, got ${JSON.stringify(onBusy)}`);
    }
    const leaseMs = leaseOf(options.lease);
    return {
      onBusy,
      leaseMs,
      stopGraceMs: stopGraceOf(options.stopGrace, leaseMs),
      waitTimeoutMs: parseDuration(options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, 'wait timeout'),
      retries,
      maxTakeovers,
      signal: options.signal,
    };
  }
}

interface ResolvedRunOptions {
  onBusy: OnBusy;
  leaseMs: number;
  stopGraceMs: number;
  waitTimeoutMs: number;
  retries: number;
  maxTakeovers: number;
  signal: AbortSignal | undefined;
}

/**
 * A waiter's view of time: polls with growing, jittered pauses so a fleet
 * does not hammer a rate-limited store, and judges a holder stale only after
 * seeing the same version of its slot for a whole lease on this process's
 * monotonic clock (never by comparing wall clocks across hosts).
 */
class Waiter {
  readonly #start: number;
  #interval = POLL_START_MS;
  #seen: { attempt: number; version: number; since: number } | undefined;
  #waited = false;

  constructor(
    readonly clock: Clock,
    readonly random: Random,
    readonly timeoutMs: number,
    readonly what: string,
  ) {
    this.#start = clock.monotonic();
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
    const pause = Math.min(this.#interval * (0.75 + 0.5 * this.random()), remaining);
    this.#interval = Math.min(this.#interval * 1.5, POLL_CAP_MS);
    try {
      await this.clock.sleep(pause, signal);
    } catch (reason) {
      throw new InterruptedError(`interrupted while waiting for ${this.what}`, { cause: reason });
    }
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

function leaseOf(lease: Duration | undefined): number {
  const ms = parseDuration(lease ?? DEFAULT_LEASE, 'lease');
  if (ms < 3) throw new UsageError(`lease must be at least 3ms, got ${lease}`);
  return ms;
}

/** A grace longer than half the lease would leave the holder no time to renew before it must stop. */
function stopGraceOf(grace: Duration | undefined, leaseMs: number): number {
  if (grace === undefined) return 0;
  const ms = parseDuration(grace, 'stop grace');
  if (ms > leaseMs / 2) {
    throw new UsageError(
      `stop grace ${formatDuration(ms)} is more than half the lease (${formatDuration(leaseMs)}): what runs under the lease must be gone before anyone may take over, so give it a longer lease or a shorter grace`,
    );
  }
  return ms;
}

/** The listeners of one lease's renewals (`ctx.onRenew`). */
class Deadline {
  readonly #listeners = new Set<(stopBy: number) => void>();
  onRenew(listener: (stopBy: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  renewed(stopBy: number): void {
    for (const l of this.#listeners) l(stopBy);
  }
}

function decodeLockSlot(slot: Slot, where: string) {
  const v = slot.value;
  if (v.v !== 1 || typeof v.owner !== 'string' || typeof v.leaseMs !== 'number' || typeof v.startedAt !== 'string') {
    throw new CorruptStateError(`${where}: token ${slot.index} holds a value runonce did not write`);
  }
  return {
    attempt: slot.index,
    version: slot.version,
    held: v.state === 'held',
    owner: v.owner,
    leaseMs: v.leaseMs,
    trustMs: typeof v.stoppingWithinMs === 'number' ? Math.min(v.leaseMs, v.stoppingWithinMs) : v.leaseMs,
    startedAt: v.startedAt,
  };
}

function failedElsewhere(task: string, scope: string, latest: Attempt, failures: number): TaskFailedError {
  const code = latest.exitCode !== undefined ? ` with exit code ${latest.exitCode}` : '';
  return new TaskFailedError(
    `${task} (scope ${scope}) failed on ${latest.owner}${code} at ${latest.finishedAt ?? latest.startedAt} (attempt ${latest.attempt}, ${failures} failure(s), no retries left)`,
    {
      task,
      scope,
      attempt: latest.attempt,
      owner: latest.owner,
      exitCode: latest.exitCode,
      error: latest.error,
      finishedAt: latest.finishedAt,
      ranHere: false,
    },
  );
}

function toStatus(a: Attempt, next: Attempt | undefined): AttemptStatus {
  const superseded = a.state === AttemptState.running && next !== undefined;
  return {
    attempt: a.attempt,
    owner: a.owner,
    state: a.state,
    startedAt: a.startedAt,
    finishedAt: a.finishedAt ?? null,
    exitCode: a.exitCode ?? null,
    error: a.error ?? null,
    ...(a.heartbeatAt !== undefined ? { heartbeatAt: a.heartbeatAt } : {}),
    ...(a.reason !== undefined ? { reason: a.reason } : {}),
    ...(a.releases !== undefined ? { releases: a.releases } : {}),
    ...(superseded
      ? { takenOverBy: { attempt: next.attempt, owner: next.owner, at: next.startedAt, released: isTombstone(next) } }
      : {}),
    ...(a.stoppingAt !== undefined && a.state === AttemptState.running && !superseded
      ? { stoppingBy: a.stoppingAt }
      : {}),
  };
}

function exitCodeOf(error: unknown): number | undefined {
  const code = (error as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function describeReason(reason: unknown): string {
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return 'aborted';
}

function randomSuffix(random: Random): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 36)];
  return s;
}
