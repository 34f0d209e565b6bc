import type { Backend, RecordKey, Slot } from './backend.js';
import { BACKOFF, pauseBefore } from './backoff.js';
import type { Clock, Random } from './clock.js';
import { RunOnceError } from './errors.js';
import type { Events } from './events.js';
import type { Waiter } from './waiter.js';

/** What every part of the engine works with, one per `RunOnce`: the store, time, chance and events. */
export interface EngineContext {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly random: Random;
  readonly events: Events;
  readonly namespace: string;
  readonly owner: string;
}

/** The wall clock as stored in records (for humans only; never compared across hosts). */
export function nowIso(ctx: Pick<EngineContext, 'clock'>): string {
  const ms = ctx.clock.now();
  // A lock cycle stamps twice, mostly within one millisecond: toISOString was a seventh of the engine's own time per cycle.
  if (ms !== lastIso.ms) {
    lastIso.ms = ms;
    lastIso.text = new Date(ms).toISOString();
  }
  return lastIso.text;
}
const lastIso = { ms: Number.NaN, text: '' };

/**
 * How long the engine keeps re-reading a record the backend reported throttled
 * (each backend read has its own retries and budget inside).
 */
const READ_RETRY_BUDGET_MS = 60_000;

/** Read a record, re-reading a throttled one after a pause, but not past a waiter's timeout. */
export async function readRecord(ctx: EngineContext, key: RecordKey, wait?: Waiter): Promise<Slot[]> {
  // A throttled read tells nothing; poll again after a pause rather than fail the run,
  // but not past a waiter's timeout.
  const t0 = ctx.clock.monotonic();
  for (let i = 0; ; i++) {
    try {
      return await ctx.backend.read(key);
    } catch (e) {
      const late = wait?.expired() || ctx.clock.monotonic() - t0 >= READ_RETRY_BUDGET_MS;
      if (!RunOnceError.is(e, 'E_THROTTLED') || i >= 8 || late) throw e;
      await pauseBefore(BACKOFF.throttledRead, i, ctx);
    }
  }
}
