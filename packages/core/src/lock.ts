// The fenced mutex: record <namespace>/_lock/<name>, one slot per holder, the slot index its fencing
// token. A holder's slot is `held` until it is `released`; a lease as for a task's attempt.
import type { JsonObject, RecordKey, Slot } from './backend.js';
import { type EngineContext, nowIso, readRecord } from './context.js';
import { BusyError, CorruptStateError, InterruptedError } from './errors.js';
import { Lease, Renewals, stopMarginMs } from './lease.js';
import { parseDuration, validateName } from './names.js';
import { DEFAULTS, leaseOf, stopGraceOf } from './options.js';
import type { LockContext, LockHandle, LockOptions, LockOutcome } from './types.js';
import { Waiter } from './waiter.js';

/** The segment that keeps locks apart from tasks (no task can be named `_lock`). */
export const LOCK_SEGMENT = '_lock';
/** Lock slots kept before old ones are pruned in one batch (stores without createNext). */
const LOCK_HISTORY = 16;
/**
 * Lock slots createNext keeps: the holder's and the one before. It creates only on top of the newest
 * slot, so older ones guard nothing; on Redis each kept slot is two more fields its script scans
 * (server time per acquire, INFO commandstats: 35.6 µs with 16 kept, 19.6 µs with 2).
 */
const LOCK_KEEP = 2;

export const LockState = { held: 'held', released: 'released' } as const;

/** Acquire a lock: see RunOnce.lock. */
export async function acquireLock(
  ctx: EngineContext,
  releasedTokens: Map<string, number>,
  name: string,
  options: LockOptions = {},
): Promise<LockHandle | undefined> {
  validateName('lock', name);
  const leaseMs = leaseOf(options.lease);
  const stopGraceMs = stopGraceOf(options.stopGrace, leaseMs);
  const onBusy = options.onBusy ?? 'wait';
  const key: RecordKey = [ctx.namespace, LOCK_SEGMENT, name];
  const wait = new Waiter(
    ctx.clock,
    ctx.random,
    parseDuration(options.waitTimeout ?? DEFAULTS.waitTimeout, 'wait timeout'),
    `lock ${name}`,
    // No watch here: lock waiters poll. Woken together on every acquire and release, 50 contenders on
    // Redis made 150 cycles/s against 1,239/s polling (bench/redis-lock.ts, same run): a herd that
    // re-reads and races for each token. Holding 1 ms (2026-12-02, two runs): 102/s, worst wait 2.3 s,
    // against 233/s and 5.5 s polling. Waking lock waiters needs an ordered hand-over (one woken).
  );
  const where = { task: name, scope: LOCK_SEGMENT, lock: true };
  const createNext = ctx.backend.createNext?.bind(ctx.backend);
  // The token this engine released last: if nobody took the lock since, the
  // next one is free, and a backend with createNext checks that as it creates.
  let guess = createNext ? releasedTokens.get(name) : undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new InterruptedError(`interrupted before acquiring lock ${name}`);
      let token: number;
      let slots: Slot[] = [];
      let takeover = false;
      if (guess !== undefined) {
        token = guess + 1;
        guess = undefined;
      } else {
        slots = await readRecord(ctx, key, wait);
        const latest = slots.at(-1);
        const holder = latest && decodeLockSlot(latest, `${ctx.namespace}/lock/${name}`);
        if (holder?.held && wait.staleFor(holder) < holder.trustMs) {
          if (onBusy === 'skip') return undefined;
          if (onBusy === 'fail') {
            throw new BusyError(`lock ${name} is held by ${holder.owner} (token ${holder.attempt})`, holder);
          }
          await wait.pollWhileHeld(ctx.events, where, holder, options.signal);
          continue;
        }
        token = (latest?.index ?? 0) + 1;
        takeover = holder?.held === true;
      }
      const value: JsonObject = {
        v: 1,
        state: LockState.held,
        owner: ctx.owner,
        startedAt: nowIso(ctx),
        leaseMs,
      };
      const sentAt = ctx.clock.monotonic();
      const created = createNext
        ? await createNext(key, token, value, LOCK_KEEP)
        : await ctx.backend.create(key, token, value);
      if (!created.won) continue;
      releasedTokens.delete(name);
      ctx.events.emit('claimed', { ...where, attempt: token, owner: ctx.owner, takeover });
      const lease = new Lease({
        backend: ctx.backend,
        clock: ctx.clock,
        key,
        index: token,
        value,
        version: created.version,
        leaseMs,
        claimedAt: sentAt,
        stopGraceMs,
        onHeartbeat: (version) => ctx.events.emit('heartbeat', { ...where, attempt: token, version }),
        onRenewed: (stopBy) => deadline.renewed(stopBy),
        onLost: (reason) => ctx.events.emit('lost', { ...where, attempt: token, reason }),
      });
      const deadline = new Renewals();
      lease.start();
      if (lease.lost) throw lease.lost;
      let released = false;
      return {
        name,
        fencingToken: token,
        get signal() {
          return lease.signal;
        },
        get stopBy() {
          return lease.stopBy;
        },
        onRenew: (listener) => deadline.onRenew(listener),
        announceStop: (withinMs = stopGraceMs + stopMarginMs(leaseMs)) => lease.announceStop(withinMs),
        release: async () => {
          if (released) return;
          released = true;
          await lease.finish({ ...value, state: LockState.released, releasedAt: nowIso(ctx) });
          if (createNext) {
            releasedTokens.set(name, token);
            return;
          }
          // Older holders' slots are history (createNext drops them as it goes). Prune
          // them in batches, not on every release: one round trip less per cycle. Only
          // slots LOCK_HISTORY below ours go, so a contender that read long ago and
          // creates late finds its index taken rather than free; the newest stays, so
          // tokens keep increasing.
          const old = slots.filter((s) => s.index <= token - LOCK_HISTORY);
          if (old.length >= LOCK_HISTORY) {
            await Promise.all(old.map((s) => ctx.backend.removeSlot(key, s.index).catch(() => {})));
          }
        },
      };
    }
  } finally {
    wait.dispose();
  }
}

/**
 * A fenced mutex: acquire, run `fn`, release. Returns `{ acquired: false }`
 * only with `onBusy: 'skip'`. `fn`'s signal aborts if the lease is lost.
 */
export async function withLock<T>(
  ctx: EngineContext,
  releasedTokens: Map<string, number>,
  name: string,
  fn: (ctx: LockContext) => Promise<T> | T,
  options: LockOptions = {},
): Promise<LockOutcome<T>> {
  const handle = await acquireLock(ctx, releasedTokens, name, options);
  if (!handle) return { acquired: false };
  let result: T;
  try {
    result = await fn({
      fencingToken: handle.fencingToken,
      get signal() {
        return handle.signal;
      },
    });
  } catch (error) {
    await handle.release().catch(() => {});
    throw error;
  }
  await handle.release();
  return { acquired: true, fencingToken: handle.fencingToken, result };
}

function decodeLockSlot(slot: Slot, where: string) {
  const v = slot.value;
  if (v.v !== 1 || typeof v.owner !== 'string' || typeof v.leaseMs !== 'number' || typeof v.startedAt !== 'string') {
    throw new CorruptStateError(`${where}: token ${slot.index} holds a value runonce did not write`);
  }
  return {
    attempt: slot.index,
    version: slot.version,
    held: v.state === LockState.held,
    owner: v.owner,
    leaseMs: v.leaseMs,
    trustMs: typeof v.stoppingWithinMs === 'number' ? Math.min(v.leaseMs, v.stoppingWithinMs) : v.leaseMs,
    startedAt: v.startedAt,
  };
}
