import { hostname } from 'node:os';
import * as admin from './admin.js';
import type { Backend, JsonObject, RecordKey } from './backend.js';
import { type Clock, type Random, systemClock } from './clock.js';
import { type EngineContext, nowIso, readRecord } from './context.js';
import { decide } from './decide.js';
import { BusyError, CorruptStateError, InterruptedError, TaskFailedError, UsageError } from './errors.js';
import { Events, type RunOnceEventName, type RunOnceEvents } from './events.js';
import * as generations from './generations.js';
import { Lease, Renewals, stopMarginMs } from './lease.js';
import * as locks from './lock.js';
import { parseDuration, validateName, validateScope } from './names.js';
import { DEFAULTS, leaseOf, stopGraceOf } from './options.js';
import { type Attempt, AttemptState, decodeAttempt, encodeAttempt, isTombstone, viewScope } from './states.js';
import type {
  LockContext,
  LockHandle,
  LockOptions,
  LockOutcome,
  OnBusy,
  Outcome,
  RunOnceOptions,
  RunOptions,
  TaskContext,
  TaskStatus,
} from './types.js';
import { Waiter, watchOf } from './waiter.js';

export type * from './types.js';

/**
 * The facade, and the run-once protocol itself: `run()` reads the scope,
 * asks `decide()` what to do, and carries out the answer (a claim, a wait, a
 * takeover), then runs the task under a lease. The lock (lock.ts),
 * generations (generations.ts) and the operators' calls (admin.ts) are rooms
 * of their own; the backend only stores numbered slots.
 */
export class RunOnce {
  readonly namespace: string;
  readonly owner: string;
  readonly #backend: Backend;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #events = new Events();
  readonly #ctx: EngineContext;
  /** Released tokens (for createNext) and releases still in flight, per lock name. */
  readonly #locks = new locks.LockBook();

  constructor(options: RunOnceOptions) {
    if (!options?.backend) throw new UsageError('RunOnce needs a backend');
    this.#backend = options.backend;
    this.namespace = validateName('namespace', options.namespace ?? DEFAULTS.namespace);
    this.owner = options.owner ?? `${hostname()}:${process.pid}`;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#ctx = {
      backend: this.#backend,
      clock: this.#clock,
      random: this.#random,
      events: this.#events,
      namespace: this.namespace,
      owner: this.owner,
    };
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
    const wait = new Waiter(
      this.#clock,
      this.#random,
      o.waitTimeoutMs,
      `${task} (scope ${scope})`,
      watchOf(this.#backend, key),
    );

    // The latest attempt this instance has seen, to notice a store that forgot it.
    let seen: Attempt | undefined;
    try {
      for (;;) {
        if (o.signal?.aborted)
          throw new InterruptedError(`interrupted before claiming ${task}`, { cause: o.signal.reason });
        const view = viewScope((await readRecord(this.#ctx, key, wait)).map((s) => decodeAttempt(s, where)));
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
          return {
            ...base,
            state: 'done',
            ranHere: false,
            attempt: d.attempt,
            owner: d.owner,
            finishedAt: d.finishedAt,
          };
        }
        if (decision.action === 'skip') {
          const { attempt, owner } = decision.attempt;
          this.#events.emit('skipped', { task, scope, reason: 'busy', attempt, owner });
          return { ...base, state: 'running', ranHere: false, attempt, owner };
        }
        if (decision.action === 'busy') {
          const { attempt, owner } = decision.attempt;
          throw new BusyError(`${task} (scope ${scope}) is running on ${owner} (attempt ${attempt})`, {
            owner,
            attempt,
          });
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

        const startedAt = nowIso(this.#ctx);
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
            const finishedAt = nowIso(this.#ctx);
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
    } finally {
      wait.dispose();
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
    const deadline = new Renewals();
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
      const finishedAt = nowIso(this.#ctx);
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
    const finishedAt = nowIso(this.#ctx);
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
    const now = (await readRecord(this.#ctx, key)).map((s) => decodeAttempt(s, where));
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
  currentScope(task: string): Promise<string> {
    return generations.currentScope(this.#ctx, task);
  }

  /**
   * Start a new generation: the next run of the task (without an explicit
   * scope) claims a fresh scope. Two concurrent resets yield one new generation.
   * `scope` names the new generation's scope (a build id) instead of a random one.
   */
  reset(task: string, options: { scope?: string } = {}): Promise<{ task: string; scope: string; generation: number }> {
    return generations.reset(this.#ctx, task, options);
  }

  /** State and attempts of a task's scope (the current generation's when none is given). */
  status(task: string, options: { scope?: string } = {}): Promise<TaskStatus> {
    return admin.status(this.#ctx, task, options);
  }

  /** The tasks of this namespace that have any state, sorted. */
  tasks(): Promise<string[]> {
    return admin.tasks(this.#ctx);
  }

  /** Operator's release of a running attempt: see admin.ts. */
  release(
    task: string,
    options: { scope?: string; reason?: string } = {},
  ): Promise<{ scope: string; released?: Attempt; tombstone?: number }> {
    return admin.release(this.#ctx, task, options);
  }

  /**
   * Delete old scopes, keeping the `keep` most recently started ones of each
   * task and always the current generation's. Running scopes are kept.
   */
  prune(options: { keep?: number; task?: string } = {}): Promise<{ task: string; scope: string }[]> {
    return admin.prune(this.#ctx, options);
  }

  /**
   * A fenced mutex: acquire, run `fn`, release. Returns `{ acquired: false }`
   * only with `onBusy: 'skip'`. `fn`'s signal aborts if the lease is lost.
   */
  withLock<T>(
    name: string,
    fn: (ctx: LockContext) => Promise<T> | T,
    options: LockOptions = {},
  ): Promise<LockOutcome<T>> {
    return locks.withLock(this.#ctx, this.#locks, name, fn, options);
  }

  /** Acquire a lock, waiting (default) or throwing `BusyError` (`onBusy: 'fail'`) while someone holds it. */
  lock(name: string, options?: LockOptions & { readonly onBusy?: 'wait' | 'fail' }): Promise<LockHandle>;
  /** With `onBusy: 'skip'`: undefined while someone else holds the lock. */
  lock(name: string, options: LockOptions): Promise<LockHandle | undefined>;
  lock(name: string, options: LockOptions = {}): Promise<LockHandle | undefined> {
    return locks.acquireLock(this.#ctx, this.#locks, name, options);
  }

  /** Waits for the lock releases withLock sent and has not heard back about, then closes the backend. */
  async close(): Promise<void> {
    await this.#locks.settle();
    await this.#backend.close();
  }

  #runOptions(options: RunOptions): ResolvedRunOptions {
    const retries = options.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0)
      throw new UsageError(`retries must be a whole number >= 0, got ${retries}`);
    const maxTakeovers = options.maxTakeovers ?? DEFAULTS.maxTakeovers;
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
      waitTimeoutMs: parseDuration(options.waitTimeout ?? DEFAULTS.waitTimeout, 'wait timeout'),
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
