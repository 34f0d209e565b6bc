// The fenced mutex: record <namespace>/_lock/<name>, one slot per holder, the slot index its fencing
// token. A holder's slot is `held` until it is `released`; a lease as for a task's attempt.
//
// Where the store has createNext, waiters line up: a waiter that finds the lock busy takes the next
// slot as `queued` (so the line's order is the token order), watches only the slot ahead of it, and
// turns its own slot into the holder's when that one is released, leaves the line, or goes stale.
// One release wakes one waiter, and nobody who asked later can pass it.
//
//   holder 7 ──held─────────────── release ─┐
//   waiter 8 ──queued (watches 7) ···········└─ read: 7 released ── rewrite 8 as held ── …
//   waiter 9 ──queued (watches 8) ··································· (woken by 8's release)
//
// A queued slot still says `state: held` (with `queued: true`), so a runonce from before the line
// existed waits for it rather than taking the lock over the holder below it.
import type { JsonObject, RecordKey, Slot } from './backend.js';
import { type EngineContext, nowIso, readRecord } from './context.js';
import { BusyError, CorruptStateError, InterruptedError } from './errors.js';
import { Lease, type LeaseOptions, Renewals, stopMarginMs } from './lease.js';
import { parseDuration, validateName } from './names.js';
import { DEFAULTS, leaseOf, stopGraceOf } from './options.js';
import type { LockContext, LockHandle, LockOptions, LockOutcome } from './types.js';
import { Waiter, watchOf } from './waiter.js';

/** The segment that keeps locks apart from tasks (no task can be named `_lock`). */
export const LOCK_SEGMENT = '_lock';
/** Lock slots kept before old ones are pruned in one batch (stores without createNext). */
const LOCK_HISTORY = 16;
/**
 * Lock slots createNext keeps when nobody is in line: the holder's and the one before. It creates
 * only on top of the newest slot, so older ones guard nothing; on Redis each kept slot is two more
 * fields its script scans (server time per acquire, INFO commandstats: 35.6 µs with 16 kept, 19.6 µs
 * with 2). With waiters in line, every slot from the holder up is kept (`keepFor`).
 */
const LOCK_KEEP = 2;

export const LockState = { held: 'held', released: 'released' } as const;

/** A lock slot as read: a holder, a waiter in line, one that left the line, or a released holder. */
export type LockSlotKind = 'held' | 'queued' | 'left' | 'released';

interface LockSlot {
  readonly attempt: number;
  readonly version: number;
  readonly kind: LockSlotKind;
  readonly owner: string;
  readonly leaseMs: number;
  readonly trustMs: number;
  readonly startedAt: string;
}

/** What one engine keeps between its locks. */
export class LockBook {
  /** Per lock name, the fencing token this engine released last (for createNext's guess). */
  readonly released = new Map<string, number>();
  /** Releases sent by withLock whose answer has not come yet: close() waits for them. */
  readonly inFlight = new Set<Promise<unknown>>();

  /** Wait for every release in flight (answered or failed). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}

/** A slot above ours that ends our lease: anyone but a waiter in line (or one that left it). */
const isLockClaim = (slot: Slot): boolean => slot.value.queued !== true;

/** Acquire a lock: see RunOnce.lock. */
export async function acquireLock(
  ctx: EngineContext,
  book: LockBook,
  name: string,
  options: LockOptions = {},
): Promise<LockHandle | undefined> {
  return (await acquire(ctx, book, name, options))?.handle;
}

interface Held {
  readonly handle: LockHandle;
  /**
   * Release without waiting for the store's answer, where nothing needs checking first (see
   * Lease.finishUnanswered): false when `handle.release()` must be awaited instead.
   */
  releaseUnanswered(): boolean;
}

async function acquire(
  ctx: EngineContext,
  book: LockBook,
  name: string,
  options: LockOptions,
): Promise<Held | undefined> {
  const releasedTokens = book.released;
  validateName('lock', name);
  const leaseMs = leaseOf(options.lease);
  const stopGraceMs = stopGraceOf(options.stopGrace, leaseMs);
  const onBusy = options.onBusy ?? 'wait';
  const key: RecordKey = [ctx.namespace, LOCK_SEGMENT, name];
  const createNext = ctx.backend.createNext?.bind(ctx.backend);
  const wait = new Waiter(
    ctx.clock,
    ctx.random,
    parseDuration(options.waitTimeout ?? DEFAULTS.waitTimeout, 'wait timeout'),
    `lock ${name}`,
    // Only waiters in line watch (the one slot ahead of each). Without createNext there is no line, and
    // woken together on every acquire and release, waiters were a herd that re-read and raced for each
    // token: 50 contenders on Redis made 150 cycles/s against 1,239/s polling (bench/redis-lock.ts).
    createNext ? watchOf(ctx.backend, key) : undefined,
  );
  const where = { task: name, scope: LOCK_SEGMENT, lock: true };
  const whereText = `${ctx.namespace}/lock/${name}`;
  const releasedOf = (value: JsonObject): JsonObject => ({
    ...value,
    state: LockState.released,
    releasedAt: nowIso(ctx),
  });
  const lockValue = (): JsonObject => ({
    v: 1,
    state: LockState.held,
    owner: ctx.owner,
    startedAt: nowIso(ctx),
    leaseMs,
  });

  /** A lease on our slot `token`, held or in line: waiters in line above it take nothing from it. */
  const leaseOn = (token: number, value: JsonObject, version: number, sentAt: number, more?: Partial<LeaseOptions>) =>
    new Lease({
      backend: ctx.backend,
      clock: ctx.clock,
      key,
      index: token,
      value,
      version,
      leaseMs,
      claimedAt: sentAt,
      isClaim: isLockClaim,
      ...more,
    });

  /** The lease and handle of a slot we now hold (created as held, or turned held from queued). */
  const hold = (token: number, value: JsonObject, version: number, sentAt: number, takeover: boolean) => {
    releasedTokens.delete(name);
    ctx.events.emit('claimed', { ...where, attempt: token, owner: ctx.owner, takeover });
    const deadline = new Renewals();
    const lease = leaseOn(token, value, version, sentAt, {
      stopGraceMs,
      onHeartbeat: (v) => ctx.events.emit('heartbeat', { ...where, attempt: token, version: v }),
      onRenewed: (stopBy) => deadline.renewed(stopBy),
      onLost: (reason) => ctx.events.emit('lost', { ...where, attempt: token, reason }),
    });
    lease.start();
    if (lease.lost) throw lease.lost;
    let released = false;
    const handle: LockHandle = {
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
        await lease.finish(releasedOf(value));
        if (createNext) {
          releasedTokens.set(name, token);
          return;
        }
        // Older holders' slots are history (createNext drops them as it goes). Prune
        // them in batches, not on every release: one round trip less per cycle. Only
        // slots LOCK_HISTORY below ours go, so a contender that read long ago and
        // creates late finds its index taken rather than free; the newest stays, so
        // tokens keep increasing.
        const old = slotsSeen.filter((s) => s.index <= token - LOCK_HISTORY);
        if (old.length >= LOCK_HISTORY) {
          await Promise.all(old.map((s) => ctx.backend.removeSlot(key, s.index).catch(() => {})));
        }
      },
    };
    const releaseUnanswered = (): boolean => {
      // Only where the next acquire on this backend is queued behind the release, and the release
      // leaves with the call (a store reached through a pool may not have sent it yet).
      if (released || !createNext || ctx.backend.capabilities.ordered !== true) return false;
      const sent = lease.finishUnanswered(releasedOf(value));
      if (!sent) return false;
      released = true;
      releasedTokens.set(name, token);
      const tracked = sent.then(
        () => {},
        (e: unknown) => {
          const reason = `the release was not recorded (${(e as Error).message}): others take the lock after its lease`;
          ctx.events.emit('lost', { ...where, attempt: token, reason });
        },
      );
      book.inFlight.add(tracked);
      void tracked.then(() => book.inFlight.delete(tracked));
      return true;
    };
    return { handle, releaseUnanswered };
  };

  /**
   * Wait in line on our queued slot `token` until the slots ahead are gone, then turn it into the
   * holder's. Undefined when we lost our place (our slot went stale, was pruned, or was passed): the
   * caller lines up again. A wait that times out or is interrupted leaves the line first.
   */
  const waitInLine = async (token: number, value: JsonObject, version: number, sentAt: number) => {
    const line = leaseOn(token, value, version, sentAt);
    line.start();
    try {
      // Armed before the first read: most often the slot just below ours is the one ahead.
      wait.watchSlot(token - 1);
      for (;;) {
        if (options.signal?.aborted) throw new InterruptedError(`interrupted while waiting for lock ${name}`);
        const slots = (await readRecord(ctx, key, wait)).map((s) => decodeLockSlot(s, whereText));
        if (line.lost) return undefined;
        const mine = slots.find((s) => s.attempt === token);
        if (mine?.kind !== 'queued' || slots.some((s) => s.attempt > token && isHeldOrReleased(s))) {
          line.stop();
          return undefined;
        }
        const before = ahead(slots, token, wait);
        if (!before.live) {
          const { queued: _q, ...rest } = value;
          const held: JsonObject = { ...rest, heldAt: nowIso(ctx) };
          let taken: { version: number; sentAt: number };
          try {
            taken = await line.rewrite(held);
          } catch {
            // Refused, or confirmed too late (someone behind may have judged our slot stale): we line up
            // again, and leave this place first, or our new slot would wait out the old one's lease.
            // Only we write this slot, so whatever landed of the refused write, `left` is safe over it.
            await ctx.backend.write(key, token, { ...value, left: true }).catch(() => {});
            return undefined;
          }
          return hold(token, held, taken.version, taken.sentAt, before.takeover);
        }
        if (wait.watchSlot(before.live.attempt)) continue; // aimed anew: read again before waiting
        await wait.pollWhileHeld(ctx.events, where, holderOf(slots, before.live), options.signal);
      }
    } catch (error) {
      // Timed out, interrupted, or the store failed: leave the line, so the one behind us need not
      // wait out our lease (best effort: if this write fails, it does).
      await line.finish({ ...value, left: true }).catch(() => {});
      throw error;
    }
  };

  // The token this engine released last: if nobody took the lock since, the
  // next one is free, and a backend with createNext checks that as it creates.
  let guess = createNext ? releasedTokens.get(name) : undefined;
  let slotsSeen: Slot[] = [];
  try {
    for (;;) {
      if (options.signal?.aborted) throw new InterruptedError(`interrupted before acquiring lock ${name}`);
      if (guess !== undefined && createNext) {
        const token = guess + 1;
        guess = undefined;
        const value = lockValue();
        const sentAt = ctx.clock.monotonic();
        const created = await createNext(key, token, value, LOCK_KEEP);
        if (created.won) return hold(token, value, created.version, sentAt, false);
        continue;
      }
      slotsSeen = await readRecord(ctx, key, wait);
      const slots = slotsSeen.map((s) => decodeLockSlot(s, whereText));
      const token = (slots.at(-1)?.attempt ?? 0) + 1;
      const before = ahead(slots, token, wait);
      if (before.live) {
        const holder = holderOf(slots, before.live);
        if (onBusy === 'skip') return undefined;
        if (onBusy === 'fail') {
          throw new BusyError(`lock ${name} is held by ${holder.owner} (token ${holder.attempt})`, holder);
        }
        if (!createNext) {
          await wait.pollWhileHeld(ctx.events, where, holder, options.signal);
          continue;
        }
        const value: JsonObject = { ...lockValue(), queued: true };
        const sentAt = ctx.clock.monotonic();
        const created = await createNext(key, token, value, keepFor(slots, token));
        if (!created.won) continue;
        const handle = await waitInLine(token, value, created.version, sentAt);
        if (handle) return handle;
        continue;
      }
      const value = lockValue();
      const sentAt = ctx.clock.monotonic();
      if (createNext) {
        const created = await createNext(key, token, value, keepFor(slots, token));
        if (created.won) return hold(token, value, created.version, sentAt, before.takeover);
        continue;
      }
      // A plain create checks only that its slot is free, and old slots are pruned: a create that
      // lands late (this process stalled after its read) can take a token used and pruned since, below
      // a live holder. So look once more: with anything above ours, ours is history, and we read again.
      const created = await ctx.backend.create(key, token, value);
      if (!created.won) continue;
      slotsSeen = await readRecord(ctx, key, wait);
      if (!slotsSeen.some((s) => s.index > token)) return hold(token, value, created.version, sentAt, before.takeover);
      await ctx.backend.write(key, token, releasedOf(value)).catch(() => {});
    }
  } finally {
    wait.dispose();
  }
}

const isHeldOrReleased = (s: LockSlot) => s.kind === 'held' || s.kind === 'released';

/**
 * The slot a would-be holder of `token` waits on: walking down from just below it, the first holder
 * or waiter in line that is still alive (seen changing within its trust time). Waiters that left, or
 * went stale in line, are passed over. A released holder ends the walk (nothing below it is alive:
 * whoever held it waited for everything below). `takeover`: the walk ended at a holder gone stale.
 */
function ahead(slots: readonly LockSlot[], token: number, wait: Waiter): { live?: LockSlot; takeover: boolean } {
  for (let i = slots.length - 1; i >= 0; i--) {
    const s = slots[i] as LockSlot;
    if (s.attempt >= token || s.kind === 'left') continue;
    if (s.kind === 'released') return { takeover: false };
    const alive = wait.staleFor(s) < s.trustMs;
    if (alive) return { live: s, takeover: false };
    if (s.kind === 'held') return { takeover: true };
  }
  return { takeover: false };
}

/** Who to name while waiting on `live`: the holder at or below it (else `live` itself). */
function holderOf(slots: readonly LockSlot[], live: LockSlot): LockSlot {
  for (let i = slots.length - 1; i >= 0; i--) {
    const s = slots[i] as LockSlot;
    if (s.attempt > live.attempt) continue;
    if (s.kind === 'held') return s;
    if (s.kind === 'released') break;
  }
  return live;
}

/**
 * What createNext keeps when creating `token`: every slot from the holder up, so nobody in line is
 * pruned (walking down from the top through waiters, to the first holder, inclusive, or the first
 * released slot, exclusive), and at least LOCK_KEEP. Safe on a read that has aged: createNext succeeds
 * only if nothing was created since, and a slot can only have finished since, never come alive.
 */
function keepFor(slots: readonly LockSlot[], token: number): number {
  let lowest = token;
  for (let i = slots.length - 1; i >= 0; i--) {
    const s = slots[i] as LockSlot;
    if (s.kind === 'released') break;
    lowest = s.attempt;
    if (s.kind === 'held') break;
  }
  return Math.max(LOCK_KEEP, token - lowest + 1);
}

/**
 * A fenced mutex: acquire, run `fn`, release. Returns `{ acquired: false }`
 * only with `onBusy: 'skip'`. `fn`'s signal aborts if the lease is lost.
 */
export async function withLock<T>(
  ctx: EngineContext,
  book: LockBook,
  name: string,
  fn: (ctx: LockContext) => Promise<T> | T,
  options: LockOptions = {},
): Promise<LockOutcome<T>> {
  const held = await acquire(ctx, book, name, options);
  if (!held) return { acquired: false };
  const { handle } = held;
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
  // Sent, not awaited, where nothing is left to check: fn is done within the lease, so the answer
  // cannot change what the caller may conclude, and the next acquire on this connection is queued
  // behind the release anyway. A lost lease still throws here; a release that fails is a `lost`
  // event, and the lock goes stale after its lease, as after a crash. close() waits for it.
  if (!held.releaseUnanswered()) await handle.release();
  return { acquired: true, fencingToken: handle.fencingToken, result };
}

export function decodeLockSlot(slot: Slot, where: string): LockSlot {
  const v = slot.value;
  if (v.v !== 1 || typeof v.owner !== 'string' || typeof v.leaseMs !== 'number' || typeof v.startedAt !== 'string') {
    throw new CorruptStateError(`${where}: token ${slot.index} holds a value runonce did not write`);
  }
  const kind: LockSlotKind =
    v.state !== LockState.held ? 'released' : v.queued !== true ? 'held' : v.left === true ? 'left' : 'queued';
  return {
    attempt: slot.index,
    version: slot.version,
    kind,
    owner: v.owner,
    leaseMs: v.leaseMs,
    trustMs: typeof v.stoppingWithinMs === 'number' ? Math.min(v.leaseMs, v.stoppingWithinMs) : v.leaseMs,
    startedAt: v.startedAt,
  };
}
