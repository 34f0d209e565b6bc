/** SPEC.md's "a new instance does" table, row by row, against decide(). */
import { describe, expect, it } from 'vitest';
import { type DecideOptions, decide } from './decide.js';
import { type Attempt, AttemptState, viewScope } from './states.js';

const LEASE = 30_000;
const o: DecideOptions = { onBusy: 'wait', retries: 0, maxTakeovers: 3 };

function attempt(n: number, state: Attempt['state'], extra: Partial<Attempt> = {}): Attempt {
  return {
    attempt: n,
    state,
    owner: `host-${n}`,
    startedAt: '2026-12-01T00:00:00.000Z',
    leaseMs: LEASE,
    version: 1,
    ...extra,
  };
}
const view = (...attempts: Attempt[]) => viewScope(attempts);

describe('decide: what a new instance does (SPEC.md)', () => {
  it('none → claims attempt 1', () => {
    expect(decide(view(), 0, o)).toEqual({ action: 'claim', attempt: 1 });
  });

  it('any attempt done → skips (exit 0), whatever came after it', () => {
    const done = attempt(1, AttemptState.done);
    expect(decide(view(done), 0, o)).toEqual({ action: 'skip', reason: 'done', attempt: done });
    expect(decide(view(done, attempt(2, AttemptState.running)), 0, o)).toMatchObject({
      action: 'skip',
      reason: 'done',
    });
  });

  it('latest running, heartbeat fresh → waits (default), or skips / fails per onBusy', () => {
    const running = attempt(1, AttemptState.running);
    expect(decide(view(running), LEASE - 1, o)).toEqual({ action: 'wait', attempt: running });
    expect(decide(view(running), 0, { ...o, onBusy: 'skip' })).toEqual({
      action: 'skip',
      reason: 'busy',
      attempt: running,
    });
    expect(decide(view(running), 0, { ...o, onBusy: 'fail' })).toEqual({ action: 'busy', attempt: running });
  });

  it('latest running, heartbeat stale for a whole lease (its own lease, not ours) → takes over: claims n+1', () => {
    const running = attempt(1, AttemptState.running);
    expect(decide(view(running), LEASE, o)).toEqual({ action: 'claim', attempt: 2, takeover: running });
    const short = attempt(1, AttemptState.running, { leaseMs: 1000 });
    expect(decide(view(short), 1000, o)).toEqual({ action: 'claim', attempt: 2, takeover: short });
  });

  it('latest abandoned (interrupted by a signal) → takes over at once, whatever the heartbeat', () => {
    const abandoned = attempt(1, AttemptState.abandoned, { reason: 'interrupted: SIGTERM' });
    expect(decide(view(abandoned), 0, o)).toEqual({ action: 'claim', attempt: 2, takeover: abandoned });
  });

  it("latest an operator's tombstone → takes over at once; the tombstone is no takeover and the number skips one", () => {
    const released = attempt(1, AttemptState.running);
    const tombstone = attempt(2, AttemptState.abandoned, { releases: 1, reason: 'released by op' });
    expect(decide(view(released, tombstone), 0, o)).toEqual({ action: 'claim', attempt: 3, takeover: tombstone });
    // three earlier takeovers (the released attempt among them) fill maxTakeovers 3: one more is allowed...
    const two = [attempt(1, AttemptState.abandoned), attempt(2, AttemptState.abandoned)];
    const r = attempt(3, AttemptState.running);
    const t = attempt(4, AttemptState.abandoned, { releases: 3 });
    expect(decide(view(...two, r, t), 0, o)).toMatchObject({ action: 'claim', attempt: 5 });
    // ...and with maxTakeovers 2 it is one too many
    expect(decide(view(...two, r, t), 0, { ...o, maxTakeovers: 2 })).toMatchObject({
      action: 'fail',
      reason: 'takeovers',
      takeovers: 3,
    });
  });

  it('latest failed, retries left → claims n+1 (a retry, not a takeover)', () => {
    const failed = attempt(1, AttemptState.failed, { exitCode: 2 });
    expect(decide(view(failed), 0, { ...o, retries: 1 })).toEqual({ action: 'claim', attempt: 2 });
  });

  it('latest failed, no retries left → fails with that failure (exit 1)', () => {
    const failed = attempt(1, AttemptState.failed, { exitCode: 2 });
    expect(decide(view(failed), 0, o)).toEqual({ action: 'fail', reason: 'failed', attempt: failed, failures: 1 });
    const again = attempt(2, AttemptState.failed);
    expect(decide(view(failed, again), 0, { ...o, retries: 1 })).toMatchObject({ action: 'fail', failures: 2 });
  });

  it('a takeover beyond maxTakeovers → fails (too many takeovers), counting the stale attempt itself', () => {
    const crashed = [1, 2, 3].map((n) => attempt(n, AttemptState.abandoned));
    const stale = attempt(4, AttemptState.running);
    expect(decide(view(...crashed, stale), LEASE, o)).toMatchObject({
      action: 'fail',
      reason: 'takeovers',
      attempt: stale,
      takeovers: 4,
    });
    expect(decide(view(...crashed, stale), LEASE, { ...o, maxTakeovers: 4 })).toMatchObject({
      action: 'claim',
      attempt: 5,
    });
    // a fresh heartbeat is waited on, however many takeovers came before
    expect(decide(view(...crashed, stale), 0, o)).toMatchObject({ action: 'wait' });
  });
});
