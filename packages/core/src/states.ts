import type { JsonObject, Slot } from './backend.js';
import { CorruptStateError } from './errors.js';

export const AttemptState = {
  running: 'running',
  done: 'done',
  failed: 'failed',
  abandoned: 'abandoned',
} as const;
export type AttemptState = (typeof AttemptState)[keyof typeof AttemptState];

export const ScopeState = {
  pending: 'pending',
  running: 'running',
  done: 'done',
  failed: 'failed',
} as const;
export type ScopeState = (typeof ScopeState)[keyof typeof ScopeState];

/** What one attempt slot holds. Wall-clock times are ISO strings, for humans only. */
export interface Attempt {
  readonly attempt: number;
  readonly state: AttemptState;
  readonly owner: string;
  readonly startedAt: string;
  readonly heartbeatAt?: string | undefined;
  readonly finishedAt?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly error?: string | undefined;
  /** Why an attempt was abandoned (signal, operator release). */
  readonly reason?: string | undefined;
  /**
   * Set on an operator's tombstone: the running attempt it released. A
   * tombstone is a slot of its own (state `abandoned`), claimed with the one
   * atomic create, so nobody ever writes into another owner's slot.
   */
  readonly releases?: number | undefined;
  /** The owner's lease; waiters judge staleness by it, not by their own. */
  readonly leaseMs: number;
  /**
   * Set when a running owner announced that it is stopping (interrupted): its
   * command will be gone within this long of that write, so waiters trust the
   * attempt only that long after they first see it (see `trustMs`).
   */
  readonly stoppingWithinMs?: number | undefined;
  /** For humans: when the owner said it would be gone (wall clock). */
  readonly stoppingAt?: string | undefined;
  /** The slot's version when read; heartbeats change it. */
  readonly version: number;
}

const SCHEMA = 1;
const STATES = new Set<string>(Object.values(AttemptState));

/** Keep a stored value within every backend's limits (SSM: 4 KB). */
export const MAX_ERROR_LENGTH = 1000;

export function encodeAttempt(a: Omit<Attempt, 'attempt' | 'version'>): JsonObject {
  const out: JsonObject = { v: SCHEMA, state: a.state, owner: a.owner, startedAt: a.startedAt, leaseMs: a.leaseMs };
  if (a.heartbeatAt !== undefined) out.heartbeatAt = a.heartbeatAt;
  if (a.finishedAt !== undefined) out.finishedAt = a.finishedAt;
  if (a.exitCode !== undefined) out.exitCode = a.exitCode;
  if (a.error !== undefined) out.error = truncate(a.error, MAX_ERROR_LENGTH);
  if (a.reason !== undefined) out.reason = truncate(a.reason, 200);
  if (a.releases !== undefined) out.releases = a.releases;
  return out;
}

export function decodeAttempt(slot: Slot, where: string): Attempt {
  const v = slot.value;
  const bad = (why: string) =>
    new CorruptStateError(
      `${where}: attempt ${slot.index} holds a value runonce did not write (${why}); inspect or remove it`,
    );
  if (v.v !== SCHEMA) throw bad(`schema ${JSON.stringify(v.v)}`);
  if (typeof v.state !== 'string' || !STATES.has(v.state)) throw bad('state');
  if (typeof v.owner !== 'string') throw bad('owner');
  if (typeof v.startedAt !== 'string') throw bad('startedAt');
  if (typeof v.leaseMs !== 'number' || !(v.leaseMs > 0)) throw bad('leaseMs');
  const optString = (k: string) => {
    const x = v[k];
    if (x !== undefined && typeof x !== 'string') throw bad(k);
    return x as string | undefined;
  };
  const exitCode = v.exitCode;
  if (exitCode !== undefined && (typeof exitCode !== 'number' || !Number.isInteger(exitCode))) throw bad('exitCode');
  const stoppingWithinMs = v.stoppingWithinMs;
  if (stoppingWithinMs !== undefined && (typeof stoppingWithinMs !== 'number' || !(stoppingWithinMs >= 0))) {
    throw bad('stoppingWithinMs');
  }
  const releases = v.releases;
  if (
    releases !== undefined &&
    (typeof releases !== 'number' || !Number.isInteger(releases) || releases >= slot.index)
  ) {
    throw bad('releases');
  }
  return {
    attempt: slot.index,
    state: v.state as AttemptState,
    owner: v.owner,
    startedAt: v.startedAt,
    heartbeatAt: optString('heartbeatAt'),
    finishedAt: optString('finishedAt'),
    exitCode: exitCode as number | undefined,
    error: optString('error'),
    reason: optString('reason'),
    releases: releases as number | undefined,
    leaseMs: v.leaseMs,
    stoppingWithinMs: stoppingWithinMs as number | undefined,
    stoppingAt: optString('stoppingAt'),
    version: slot.version,
  };
}

/**
 * How long a waiter trusts a running attempt whose slot it sees unchanged:
 * the owner's lease, or less once the owner announced it is stopping.
 */
export const trustMs = (a: Pick<Attempt, 'leaseMs' | 'stoppingWithinMs'>): number =>
  a.stoppingWithinMs === undefined ? a.leaseMs : Math.min(a.leaseMs, a.stoppingWithinMs);

/** An operator's release, not a claim: nothing runs under it, and takeover counts ignore it. */
export const isTombstone = (a: Pick<Attempt, 'releases'>): boolean => a.releases !== undefined;

/** The same, from a raw slot value (the lease reads slots without decoding them). */
export const isTombstoneValue = (value: JsonObject): boolean => typeof value.releases === 'number';

/** A scope summarised from its attempts, as SPEC.md's table derives it. */
export interface ScopeView {
  readonly state: ScopeState;
  readonly attempts: readonly Attempt[];
  readonly latest: Attempt | undefined;
  /** The attempt that succeeded, if any. */
  readonly done: Attempt | undefined;
  /** Attempts that failed on their own (the command exited non-zero or threw). */
  readonly failures: number;
  /** Attempts that ended without an outcome: abandoned, or superseded while running (tombstones not counted). */
  readonly takeovers: number;
}

export function viewScope(attempts: readonly Attempt[]): ScopeView {
  const latest = attempts.at(-1);
  const done = attempts.find((a) => a.state === AttemptState.done);
  let failures = 0;
  let takeovers = 0;
  for (const a of attempts) {
    if (a.state === AttemptState.failed) failures++;
    else if (isTombstone(a)) continue;
    else if (a.state === AttemptState.abandoned || (a.state === AttemptState.running && a !== latest)) takeovers++;
  }
  let state: ScopeState;
  if (done) state = ScopeState.done;
  else if (!latest || latest.state === AttemptState.abandoned) state = ScopeState.pending;
  else if (latest.state === AttemptState.running) state = ScopeState.running;
  else state = ScopeState.failed;
  return { state, attempts, latest, done, failures, takeovers };
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
