import { UsageError } from './errors.js';
import { type Duration, formatDuration, parseDuration } from './names.js';

/**
 * runonce's defaults, in one place: the engine applies them, and the CLI
 * resolves its settings and prints its --help from them.
 */
export const DEFAULTS = Object.freeze({
  namespace: 'default',
  lease: '30s',
  waitTimeout: '30m',
  onBusy: 'wait',
  retries: 0,
  maxTakeovers: 3,
  /** Generations of a task kept by `reset`; scopes kept by `prune`. */
  keep: 5,
} as const);

/** A lease from an option (default DEFAULTS.lease), in ms. */
export function leaseOf(lease: Duration | undefined): number {
  const ms = parseDuration(lease ?? DEFAULTS.lease, 'lease');
  if (ms < 3) throw new UsageError(`lease must be at least 3ms, got ${lease}`);
  return ms;
}

/**
 * The longest stop grace a lease allows: half of it. A longer one would leave the holder no time to
 * renew before it must stop. (The CLI's --kill-grace is held to the same bound.)
 */
export function maxStopGraceMs(leaseMs: number): number {
  return leaseMs / 2;
}

/** A stop grace from an option, in ms; 0 when none is given. */
export function stopGraceOf(grace: Duration | undefined, leaseMs: number): number {
  if (grace === undefined) return 0;
  const ms = parseDuration(grace, 'stop grace');
  if (ms > maxStopGraceMs(leaseMs)) {
    throw new UsageError(
      `stop grace ${formatDuration(ms)} is more than half the lease (${formatDuration(leaseMs)}): what runs under the lease must be gone before anyone may take over, so give it a longer lease or a shorter grace`,
    );
  }
  return ms;
}
