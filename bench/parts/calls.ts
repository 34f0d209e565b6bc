/**
 * Backend calls per engine operation, for any backend: the backend is wrapped
 * in core's FaultyBackend (which counts calls per primitive) and the engine is
 * driven through each operation. The same function feeds `pnpm bench` (every
 * backend, on real servers) and the smoke test (memory and file), which checks
 * the counts against DOCUMENTED so docs/backends/README.md cannot drift.
 *
 * Each scenario is deterministic: the heartbeat is counted between the
 * `claimed` and the first `heartbeat` event (the task returns right after it),
 * a poll between two `waiting` events (the holder finishes once the waiter
 * has polled twice), so no count depends on the machine's speed.
 */
import { randomBytes } from 'node:crypto';
import type { Backend } from '@runonce/core';
import { RunOnce } from '@runonce/core';
import { FaultyBackend } from '@runonce/core/testing';

export type Op = 'read' | 'create' | 'write' | 'remove' | 'removeSlot' | 'list';
export type Counts = Partial<Record<Op, number>>;
export type Operation = 'skip' | 'claimAndFinish' | 'heartbeat' | 'waitPoll';

export const OPERATIONS: readonly { id: Operation; label: string }[] = [
  { id: 'skip', label: 'skip (task done)' },
  { id: 'claimAndFinish', label: 'claim and finish' },
  { id: 'heartbeat', label: 'one heartbeat' },
  { id: 'waitPoll', label: 'one wait poll' },
];

/** What docs/backends/README.md ("Calls per operation") says, without an explicit scope. */
export const DOCUMENTED: Record<Operation, Counts> = {
  skip: { read: 2 },
  // the third read follows the `done` write: an operator's release may have let a taker in (concepts.md)
  claimAndFinish: { read: 3, create: 1, write: 1 },
  heartbeat: { read: 1, write: 1 },
  waitPoll: { read: 1 },
};

const OPS: readonly Op[] = ['read', 'create', 'write', 'remove', 'removeSlot', 'list'];

function snapshot(b: FaultyBackend): Record<Op, number> {
  return { ...b.calls };
}

/** Calls made between two snapshots, zero counts left out. */
function diff(before: Record<Op, number>, after: Record<Op, number>): Counts {
  const out: Counts = {};
  for (const op of OPS) {
    const n = after[op] - before[op];
    if (n !== 0) out[op] = n;
  }
  return out;
}

export function formatCounts(c: Counts): string {
  const parts = OPS.filter((op) => c[op]).map((op) => `${c[op]} ${op}`);
  return parts.length ? parts.join(' + ') : '0';
}

export function total(c: Counts): number {
  return OPS.reduce((n, op) => n + (c[op] ?? 0), 0);
}

export function sameCounts(a: Counts, b: Counts): boolean {
  return OPS.every((op) => (a[op] ?? 0) === (b[op] ?? 0));
}

function once<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Drive the engine through skip, claim+finish, one heartbeat and one wait
 * poll on `inner`, each with a fresh engine and counter, no explicit scope
 * (so every run also reads the generation pointer, as the CLI's default does).
 * `inner` is not closed.
 */
export async function measureCalls(inner: Backend): Promise<Record<Operation, Counts>> {
  const namespace = `calls-${randomBytes(4).toString('hex')}`;
  const fresh = (owner: string) => {
    const counted = new FaultyBackend(inner);
    return { counted, engine: new RunOnce({ backend: counted, namespace, owner }) };
  };

  // claim and finish: a fresh task, run to done
  const claim = fresh('claimer');
  const before = snapshot(claim.counted);
  const ran = await claim.engine.run('migrate', async () => {});
  if (!ran.ranHere) throw new Error('claim and finish: expected to run here');
  const claimAndFinish = diff(before, snapshot(claim.counted));

  // skip: the same task, now done
  const skipper = fresh('skipper');
  const beforeSkip = snapshot(skipper.counted);
  const skipped = await skipper.engine.run('migrate', async () => {
    throw new Error('skip: must not run');
  });
  if (skipped.ranHere) throw new Error('skip: expected to skip');
  const skip = diff(beforeSkip, snapshot(skipper.counted));

  // one heartbeat: lease 1.5 s renews at 500 ms (wide margins on a loaded machine);
  // the task returns at the first heartbeat
  const beat = fresh('beater');
  let atClaim: Record<Op, number> | undefined;
  let atBeat: Record<Op, number> | undefined;
  const firstBeat = once<void>();
  beat.engine.on('claimed', () => {
    atClaim = snapshot(beat.counted);
  });
  beat.engine.on('heartbeat', () => {
    atBeat ??= snapshot(beat.counted);
    firstBeat.resolve();
  });
  await beat.engine.run('beat', () => firstBeat.promise, { lease: '1500ms' });
  if (!atClaim || !atBeat) throw new Error('heartbeat: no heartbeat seen');
  const heartbeat = diff(atClaim, atBeat);

  // one wait poll: the holder finishes once the waiter has polled twice
  const holder = fresh('holder');
  const waiter = fresh('waiter');
  const polls: Record<Op, number>[] = [];
  const polledTwice = once<void>();
  const claimed = once<void>();
  holder.engine.on('claimed', () => claimed.resolve());
  waiter.engine.on('waiting', () => {
    polls.push(snapshot(waiter.counted));
    if (polls.length === 3) polledTwice.resolve();
  });
  const holding = holder.engine.run('slow', () => polledTwice.promise, { lease: '30s' });
  await claimed.promise;
  const waited = await waiter.engine.run('slow', async () => {
    throw new Error('wait: must not run');
  });
  await holding;
  if (waited.ranHere || polls.length < 3) throw new Error('wait: expected to wait, then skip');
  const [p0, p1, p2] = polls as [Record<Op, number>, Record<Op, number>, Record<Op, number>];
  const waitPoll = diff(p0, p1);
  if (!sameCounts(waitPoll, diff(p1, p2))) {
    throw new Error(`wait: two polls differ (${formatCounts(waitPoll)} vs ${formatCounts(diff(p1, p2))})`);
  }

  return { skip, claimAndFinish, heartbeat, waitPoll };
}
