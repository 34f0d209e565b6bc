import { type LeaseDeadline, RunOnceError } from '@runonce/core';
import { Child, type ChildOptions } from './child.js';

export interface UnderLease extends LeaseDeadline {
  /** Aborted when the lease is lost (or the caller was interrupted). */
  readonly signal: AbortSignal;
}

/**
 * Start the command under a lease (a task's attempt in `exec`, a held lock in
 * `lock`): its keeper gets each renewal's stopBy, and stops the command by
 * itself when they stop coming; a lost lease stops it at once, with the grace.
 */
export function startUnderLease(
  lease: UnderLease,
  o: Omit<ChildOptions, 'stopBy' | 'onFired'>,
  say: (message: string, tone?: 'good' | 'bad' | 'warn') => void,
): Child {
  const child = new Child({
    ...o,
    stopBy: lease.stopBy,
    onFired: (what) =>
      say(
        what === 'term'
          ? 'no renewal of the lease was confirmed in time: stopping the command (SIGTERM) so it is gone before another instance may take over'
          : 'the command was still running at the end of its grace: SIGKILL',
        'bad',
      ),
  });
  const off = lease.onRenew((stopBy) => child.renewed(stopBy));
  // Interrupted: the caller has passed the signal on already. Lost: stop the command ourselves.
  const onAbort = () => {
    if (RunOnceError.is(lease.signal.reason, 'E_LEASE_LOST')) child.terminate();
  };
  if (lease.signal.aborted) onAbort();
  else lease.signal.addEventListener('abort', onAbort, { once: true });
  void child.exited.then(() => {
    off();
    lease.signal.removeEventListener('abort', onAbort);
  });
  return child;
}
