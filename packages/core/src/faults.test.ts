import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBackend } from './backends/file.js';
import { MemoryBackend } from './backends/memory.js';
import { RunOnce, type TaskContext } from './engine.js';
import { ErrorCode, RunOnceError } from './errors.js';

/**
 * Faults the fault suite (packages/fault-suite) found through real processes,
 * reduced to the engine: a store that loses its data (Redis restarted without
 * persistence) while a task runs. Real time with short leases: the heartbeat
 * and the waiter's polls must interleave with the loss as they do on a server.
 */
const LEASE = '300ms';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pair() {
  const backend = new MemoryBackend();
  const namespace = `f${Math.random().toString(36).slice(2, 8)}`;
  return {
    backend,
    key: [namespace, 'mig', 'initial'] as const,
    a: new RunOnce({ backend, namespace, owner: 'a' }),
    b: new RunOnce({ backend, namespace, owner: 'b' }),
  };
}

/** A task that runs until its signal aborts (or 2 s pass), recording that it started. */
function untilAborted(started: string[], name: string) {
  return async ({ signal }: TaskContext) => {
    started.push(name);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, 2000);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(signal.reason);
      });
    });
  };
}

describe('a store that loses its data mid-task', () => {
  it('an owner whose slot was re-created by another instance (same index, same version) loses its lease', async () => {
    // Wiped before the owner's first heartbeat: its slot had version 1, and
    // another instance's claim of attempt 1 has version 1 too. Comparing
    // versions alone, the owner would take that claim for its own and write
    // over it, and both would run the task.
    const { backend, key, a, b } = pair();
    const started: string[] = [];
    const ra = a.run('mig', untilAborted(started, 'a'), { lease: LEASE });
    await sleep(20);
    await backend.remove(key);
    const rb = b.run('mig', untilAborted(started, 'b'), { lease: LEASE }).catch((e: unknown) => e);
    const ea = await ra.catch((e: unknown) => e);
    expect(RunOnceError.is(ea, ErrorCode.leaseLost)).toBe(true);
    // b, the only one left, keeps its claim.
    expect((await backend.read(key)).map((s) => s.value.owner)).toEqual(['b']);
    await backend.remove(key);
    await rb;
  });

  it('a waiter that saw a running attempt and then finds the scope empty reports the state lost and runs nothing', async () => {
    const { backend, key, a, b } = pair();
    const started: string[] = [];
    const ra = a.run('mig', untilAborted(started, 'a'), { lease: LEASE }).catch((e: unknown) => e);
    await sleep(20);
    const rb = b.run('mig', untilAborted(started, 'b'), { lease: LEASE }).catch((e: unknown) => e);
    await sleep(250); // b has seen a's attempt, a has heartbeated
    await backend.remove(key);
    const eb = await rb;
    expect(RunOnceError.is(eb, ErrorCode.corruptState)).toBe(true);
    expect((eb as Error).message).toMatch(/state lost/);
    expect(started).toEqual(['a']);
    expect(RunOnceError.is(await ra, ErrorCode.leaseLost)).toBe(true);
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
