// What operators do with tasks: look (status, tasks), release a stuck attempt, prune old scopes.
import type { RecordKey } from './backend.js';
import { type EngineContext, nowIso, readRecord } from './context.js';
import { UsageError } from './errors.js';
import { currentScope } from './generations.js';
import { LOCK_SEGMENT } from './lock.js';
import { validateName, validateScope } from './names.js';
import { DEFAULTS } from './options.js';
import { type Attempt, AttemptState, decodeAttempt, encodeAttempt, isTombstone, viewScope } from './states.js';
import type { AttemptStatus, TaskStatus } from './types.js';

/** State and attempts of a task's scope (the current generation's when none is given). */
export async function status(ctx: EngineContext, task: string, options: { scope?: string } = {}): Promise<TaskStatus> {
  validateName('task', task);
  const scope = options.scope !== undefined ? validateScope(options.scope) : await currentScope(ctx, task);
  const where = `${ctx.namespace}/${task}/${scope}`;
  const view = viewScope((await readRecord(ctx, [ctx.namespace, task, scope])).map((s) => decodeAttempt(s, where)));
  const now = ctx.clock.now();
  const attempts = view.attempts.map((a, i) => ({
    ...toStatus(a, view.attempts[i + 1]),
    ...stuck(a, view.attempts[i + 1], now, { namespace: ctx.namespace, task, scope }),
  }));
  return { namespace: ctx.namespace, task, scope, state: view.state, attempts };
}

/** The tasks of this namespace that have any state, sorted. */
export async function tasks(ctx: EngineContext): Promise<string[]> {
  const keys = await ctx.backend.list([ctx.namespace]);
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
export async function release(
  ctx: EngineContext,
  task: string,
  options: { scope?: string; reason?: string } = {},
): Promise<{ scope: string; released?: Attempt; tombstone?: number }> {
  validateName('task', task);
  const scope = options.scope !== undefined ? validateScope(options.scope) : await currentScope(ctx, task);
  const key: RecordKey = [ctx.namespace, task, scope];
  const where = `${ctx.namespace}/${task}/${scope}`;
  const view = viewScope((await readRecord(ctx, key)).map((s) => decodeAttempt(s, where)));
  const latest = view.latest;
  if (!latest || latest.state !== AttemptState.running) return { scope };
  const now = nowIso(ctx);
  const tombstone = encodeAttempt({
    state: AttemptState.abandoned,
    owner: ctx.owner,
    startedAt: now,
    finishedAt: now,
    leaseMs: latest.leaseMs,
    reason: options.reason ?? `released by ${ctx.owner}`,
    releases: latest.attempt,
  });
  const created = await ctx.backend.create(key, latest.attempt + 1, tombstone);
  // Someone claimed n+1 first (a takeover, or another release): attempt n is superseded already.
  if (!created.won) return { scope };
  return { scope, released: latest, tombstone: latest.attempt + 1 };
}

/**
 * Delete old scopes, keeping the `keep` most recently started ones of each
 * task and always the current generation's. Running scopes are kept.
 */
export async function prune(
  ctx: EngineContext,
  options: { keep?: number; task?: string } = {},
): Promise<{ task: string; scope: string }[]> {
  const keep = options.keep ?? DEFAULTS.keep;
  if (!Number.isInteger(keep) || keep < 0) throw new UsageError(`--keep must be a whole number >= 0, got ${keep}`);
  const names = options.task !== undefined ? [validateName('task', options.task)] : await tasks(ctx);
  const removed: { task: string; scope: string }[] = [];
  for (const task of names) {
    const current = await currentScope(ctx, task);
    const scopes: { scope: string; startedAt: string; running: boolean }[] = [];
    for (const key of await ctx.backend.list([ctx.namespace, task])) {
      const scope = key[2];
      if (key.length !== 3 || scope === undefined) continue;
      const slots = await readRecord(ctx, key);
      const latest = slots.at(-1);
      const startedAt = typeof latest?.value.startedAt === 'string' ? latest.value.startedAt : '';
      scopes.push({ scope, startedAt, running: latest?.value.state === AttemptState.running });
    }
    scopes.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
    for (const [i, s] of scopes.entries()) {
      if (i < keep || s.scope === current || s.running) continue;
      await ctx.backend.remove([ctx.namespace, task, s.scope]);
      removed.push({ task, scope: s.scope });
    }
  }
  return removed;
}

/** Leases of silence after which a running attempt is shown as stuck. */
const STUCK_AFTER_LEASES = 3;

function stuck(
  a: Attempt,
  next: Attempt | undefined,
  now: number,
  where: { namespace: string; task: string; scope: string },
): Pick<AttemptStatus, 'stuck'> {
  if (a.state !== AttemptState.running || next !== undefined) return {};
  const last = Date.parse(a.heartbeatAt ?? a.startedAt);
  const silentForMs = now - last;
  if (!Number.isFinite(silentForMs) || silentForMs <= STUCK_AFTER_LEASES * a.leaseMs) return {};
  const ns = where.namespace === DEFAULTS.namespace ? '' : ` --namespace ${where.namespace}`;
  return { stuck: { silentForMs, release: `runonce release ${where.task} --force --scope ${where.scope}${ns}` } };
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
