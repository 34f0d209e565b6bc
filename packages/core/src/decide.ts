import { type Attempt, AttemptState, type ScopeView, trustMs } from './states.js';

/**
 * What a new instance does, given what it read of a scope: SPEC.md's table
 * "a new instance does", as one pure function. The engine carries out the
 * answer (events, errors, the claim itself); decide.test.ts walks the table
 * row by row.
 *
 * | attempts seen                                        | action                               |
 * | ---------------------------------------------------- | ------------------------------------ |
 * | none                                                 | claim attempt 1                      |
 * | any attempt `done`                                   | skip (done)                          |
 * | latest `running`, heartbeat unchanged < its lease    | wait, or skip / busy per `onBusy`    |
 * | latest `running`, unchanged for a whole lease        | claim n+1, a takeover                |
 * | latest `running` and stopping, unchanged that long   | claim n+1, a takeover                |
 * | latest `abandoned` (signal, or an operator's tombstone) | claim n+1 at once, a takeover     |
 * | latest `failed`, retries left                        | claim n+1 (a retry)                  |
 * | latest `failed`, no retries left                     | fail (failed elsewhere)              |
 * | a takeover beyond `maxTakeovers`                     | fail (too many takeovers)            |
 *
 * `unchangedForMs` is how long this instance has seen the latest attempt's
 * slot at one version, on its own monotonic clock (never a comparison of
 * clocks across hosts). An owner that announced it is stopping is trusted
 * only its `stoppingWithinMs` from then (the write that said so is a new
 * version, so a waiter's count starts at or after it).
 */
export type Decision =
  | { readonly action: 'skip'; readonly reason: 'done' | 'busy'; readonly attempt: Attempt }
  | { readonly action: 'wait'; readonly attempt: Attempt }
  | { readonly action: 'busy'; readonly attempt: Attempt }
  | { readonly action: 'fail'; readonly reason: 'failed'; readonly attempt: Attempt; readonly failures: number }
  | { readonly action: 'fail'; readonly reason: 'takeovers'; readonly attempt: Attempt; readonly takeovers: number }
  | { readonly action: 'claim'; readonly attempt: number; readonly takeover?: Attempt };

export interface DecideOptions {
  readonly onBusy: 'wait' | 'skip' | 'fail';
  readonly retries: number;
  readonly maxTakeovers: number;
}

export function decide(view: ScopeView, unchangedForMs: number, o: DecideOptions): Decision {
  const { latest } = view;
  if (view.done) return { action: 'skip', reason: 'done', attempt: view.done };
  if (!latest) return { action: 'claim', attempt: 1 };
  const next = latest.attempt + 1;
  switch (latest.state) {
    case AttemptState.failed:
      if (view.failures > o.retries)
        return { action: 'fail', reason: 'failed', attempt: latest, failures: view.failures };
      return { action: 'claim', attempt: next };
    case AttemptState.running:
      if (unchangedForMs < trustMs(latest)) {
        if (o.onBusy === 'skip') return { action: 'skip', reason: 'busy', attempt: latest };
        if (o.onBusy === 'fail') return { action: 'busy', attempt: latest };
        return { action: 'wait', attempt: latest };
      }
      return takeover(view, latest, next, o);
    default:
      return takeover(view, latest, next, o);
  }
}

/** Claim n+1 from an attempt that ended without an outcome, unless that makes one takeover too many. */
function takeover(view: ScopeView, latest: Attempt, next: number, o: DecideOptions): Decision {
  // A stale running attempt is not yet counted in the view (it is the latest); an abandoned one (and so a
  // tombstone, which is always abandoned and never counted) is.
  const takeovers = view.takeovers + (latest.state === AttemptState.running ? 1 : 0);
  if (takeovers > o.maxTakeovers) return { action: 'fail', reason: 'takeovers', attempt: latest, takeovers };
  return { action: 'claim', attempt: next, takeover: latest };
}
