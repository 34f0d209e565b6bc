import { type LeaseDeadline, RunOnceError } from '@runonce/core';
import { Child } from './child.js';
import type { Reporter, Say } from './io.js';

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
  command: { readonly command: readonly string[]; readonly shell: boolean; readonly env: NodeJS.ProcessEnv },
  o: { readonly reporter: Reporter; readonly graceMs: number; readonly say: Say },
): Child {
  const { reporter, graceMs, say } = o;
  const child = new Child({
    ...command,
    reporter,
    // --log-file: the command's output goes through runonce to the file too; else it is inherited untouched.
    tee: reporter.logFd !== undefined,
    graceMs,
    stopBy: lease.stopBy,
    onFired: (what) =>
      say(
        what === 'term'
          ? 'no renewal of the lease was confirmed in time: stopping the command (SIGTERM) so it is gone before another instance may take over'
          : 'the command was still running at the end of its grace: SIGKILL',
        'bad',
        { event: 'keeper_fired', signal: what === 'term' ? 'SIGTERM' : 'SIGKILL' },
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
