/**
 * The calls-per-operation part of `pnpm bench`, on the memory and file
 * backends, checked against DOCUMENTED and against the table in
 * docs/backends/README.md, so the documented numbers cannot drift from what
 * the engine does. (The SSM, DynamoDB and Redis counts come from the same
 * engine code; `pnpm bench` measures them on real servers.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBackend, MemoryBackend } from '@runonce/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type Counts, DOCUMENTED, measureCalls, type Operation } from '../parts/calls.ts';
import { pollsPerSecond, readRate } from '../parts/read-rate.ts';

const DOCS = new URL('../../docs/backends/README.md', import.meta.url);

/** The "Calls per operation (every backend)" table of the docs, as counts per operation. */
function documentedInDocs(): Record<Operation, Counts> {
  const text = readFileSync(DOCS, 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Calls per operation'));
  if (!section) throw new Error('docs/backends/README.md has no "## Calls per operation" section');
  const rows: Record<string, Operation> = {
    skip: 'skip',
    claim: 'claimAndFinish',
    heartbeat: 'heartbeat',
    wait: 'waitPoll',
  };
  const out: Partial<Record<Operation, Counts>> = {};
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const op = Object.entries(rows).find(([word]) => cells[1]?.toLowerCase().startsWith(word))?.[1];
    if (!op || !cells[2]) continue;
    const counts: Counts = {};
    for (const m of cells[2].matchAll(/(\d+)\s+(?:terminal\s+)?(read|create|write)s?\b/g)) {
      counts[m[2] as 'read' | 'create' | 'write'] = Number(m[1]);
    }
    out[op] = counts;
  }
  return out as Record<Operation, Counts>;
}

describe('calls per operation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('docs/backends/README.md states the counts the bench checks', () => {
    expect(documentedInDocs()).toEqual(DOCUMENTED);
  });

  it.each([
    ['memory', () => new MemoryBackend()],
    ['file', () => new FileBackend({ dir })],
  ])('%s backend makes the documented calls', async (_name, make) => {
    const backend = make();
    try {
      expect(await measureCalls(backend)).toEqual(DOCUMENTED);
    } finally {
      await backend.close();
    }
  });
});

describe('read rate of polling waiters', () => {
  it('follows the poll schedule: one waiter at mid-jitter polls at 0.5, 0.75, 1.13, 1.69, 2.53 s …, then every 5 s', () => {
    const polls = pollsPerSecond(1, 60, () => 0.5);
    // first read at 500 ms, then pauses 250, 375, 562.5, 843.75, 1265.6, 1898.4, 2847.7, 4271.5, then 5000
    expect(polls.slice(0, 13)).toEqual([2, 2, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1]);
    expect(polls.slice(13).reduce((a, b) => a + b, 0)).toBe(9); // 17.8, 22.8, … 57.8 s
  });

  it('200 waiters reach SSM’s 40 reads/s once all poll at the cap, and are far above it in the first second', () => {
    const r = readRate(200, 120);
    const ssm = r.rows.find((x) => x.store === 'ssm');
    expect(ssm?.steady).toBeGreaterThan(36);
    expect(ssm?.steady).toBeLessThan(44);
    expect(ssm?.peak).toBeGreaterThan(200);
    expect(r.rows.find((x) => x.store === 's3')?.steady).toBeCloseTo(2 * (ssm?.steady ?? 0));
  });
});
