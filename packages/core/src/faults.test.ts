import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBackend } from './backends/file.js';
import { MemoryBackend } from './backends/memory.js';
import { FakeClock } from './clock.js';
import { RunOnce, type TaskContext } from './engine.js';
import { ErrorCode, RunOnceError } from './errors.js';

/**
 * Faults the fault suite (packages/fault-suite) found through real processes,
 * reduced to the engine: a store that loses its data (Redis restarted without
 * persistence) while a task runs. On a fake clock, so the heartbeats and the
 * waiter's polls interleave with the loss in the same order every run.
 */
const LEASE = '300ms';

function pair() {
  const backend = new MemoryBackend();
  const clock = new FakeClock();
  const namespace = `f${Math.random().toString(36).slice(2, 8)}`;
  const settle = <T>(p: Promise<T>) => {
    const t: { done: boolean; value?: T | unknown } = { done: false };
    p.then(
      (v) => Object.assign(t, { done: true, value: v }),
      (e: unknown) => Object.assign(t, { done: true, value: e }),
    );
    return t;
  };
  return {
    backend,
    clock,
    settle,
    key: [namespace, 'mig', 'initial'] as const,
    a: new RunOnce({ backend, namespace, owner: 'a', clock, random: () => 0.5 }),
    b: new RunOnce({ backend, namespace, owner: 'b', clock, random: () => 0.5 }),
  };
}

/** A task that runs until its signal aborts (or 2 s pass), recording that it started. */
function untilAborted(clock: FakeClock, started: string[], name: string) {
  return async ({ signal }: TaskContext) => {
    started.push(name);
    await clock.sleep(2000, signal);
  };
}

describe('a store that loses its data mid-task', () => {
  it('an owner whose slot was re-created by another instance (same index, same version) loses its lease', async () => {
    // Wiped before the owner's first heartbeat: its slot had version 1, and
    // another instance's claim of attempt 1 has version 1 too. Comparing
    // versions alone, the owner would take that claim for its own and write
    // over it, and both would run the task.
    const { backend, clock, settle, key, a, b } = pair();
    const started: string[] = [];
    const ra = settle(a.run('mig', untilAborted(clock, started, 'a'), { lease: LEASE }));
    await clock.advance(20);
    await backend.remove(key);
    const rb = settle(b.run('mig', untilAborted(clock, started, 'b'), { lease: LEASE }));
    await clock.runUntil(() => ra.done, 10_000, 5);
    expect(RunOnceError.is(ra.value, ErrorCode.leaseLost)).toBe(true);
    expect(started).toEqual(['a', 'b']);
    // b, the only one left, keeps its claim.
    expect((await backend.read(key)).map((s) => s.value.owner)).toEqual(['b']);
    await backend.remove(key);
    await clock.runUntil(() => rb.done, 10_000, 5);
  });

  it('a waiter that saw a running attempt and then finds the scope empty reports the state lost and runs nothing', async () => {
    const { backend, clock, settle, key, a, b } = pair();
    const started: string[] = [];
    const ra = settle(a.run('mig', untilAborted(clock, started, 'a'), { lease: LEASE }));
    await clock.advance(20);
    const rb = settle(b.run('mig', untilAborted(clock, started, 'b'), { lease: LEASE }));
    await clock.advance(250); // b has seen a's attempt, a has heartbeated
    await backend.remove(key);
    await clock.runUntil(() => ra.done && rb.done, 10_000, 5);
    expect(RunOnceError.is(rb.value, ErrorCode.corruptState)).toBe(true);
    expect((rb.value as Error).message).toMatch(/state lost/);
    expect(started).toEqual(['a']);
    expect(RunOnceError.is(ra.value, ErrorCode.leaseLost)).toBe(true);
  });
});

describe('names the fuzzer found', () => {
  it('the file backend takes a task named `a..` (valid per SPEC), which its path check took for `..`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runonce-faults-'));
    try {
      const backend = new FileBackend({ dir });
      const r = await new RunOnce({ backend, namespace: 'ns' }).run('a..', () => 'ran', { scope: 'x..y' });
      expect(r).toMatchObject({ state: 'done', ranHere: true });
      expect(await backend.read(['ns', 'a..', 'x..y'])).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
