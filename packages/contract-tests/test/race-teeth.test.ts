/**
 * The races are only worth something if a non-atomic backend fails them.
 * These run the suite's own race machinery against check-then-set.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type CreateRaceResult, createRace, raceInProcesses, type WorkerJob } from '../dist/index.js';
// @ts-expect-error plain JS fixture without types
import { createCheckThenSetBackend } from './fixtures/check-then-set.mjs';

const root = mkdtempSync(join(tmpdir(), 'runonce-teeth-'));
const module = fileURLToPath(new URL('./fixtures/check-then-set.mjs', import.meta.url));

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the races catch a check-then-set backend', () => {
  it('in one process', async () => {
    const backend = createCheckThenSetBackend({ dir: root });
    const result = await createRace(backend, ['ns', 'task', 'in-process'], 1, ['a', 'b', 'c', 'd']);
    await backend.close();
    expect(result.winners.length).toBeGreaterThan(1);
  });

  it('across processes, one contender each: the processes really start together', async () => {
    const jobs: WorkerJob[] = Array.from({ length: 8 }, (_, p) => ({
      module,
      exportName: 'createCheckThenSetBackend',
      options: { dir: root, pauseMs: 200 },
      mode: 'create',
      key: ['ns', 'task', 'processes'],
      index: 1,
      ids: [`p${p}`],
    }));
    const results = await raceInProcesses<CreateRaceResult>(jobs, 60_000);
    const winners = results.flatMap((r) => r.winners);
    // a process's single contender wins only if it read before any other process wrote: with the
    // barrier all 8 usually win; at least half shows they overlap rather than start one by one
    expect(winners.length).toBeGreaterThanOrEqual(4);
  });
});
