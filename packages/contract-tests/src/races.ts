import type { Backend, RecordKey } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import { type ClaimRaceResult, type CreateRaceResult, claimRace, createRace } from './contenders.js';
import { raceInProcesses } from './processes.js';
import type { WorkerJob } from './protocol.js';
import type { ContractTarget, SuiteContext } from './target.js';

const PROCESSES = 8;
const CLAIM_PROCESSES = 4;
const CLAIM_CONTENDERS = 20;
const CLAIM_UP_TO = 10;
const RACE_TIMEOUT_MS = 240_000;

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Of many contenders exactly one wins, and the store holds the winner's value. */
async function expectOneWinner(
  backend: Backend,
  key: RecordKey,
  index: number,
  result: CreateRaceResult,
  size: number,
) {
  expect(result.errors).toEqual([]);
  expect(result.winners).toHaveLength(1);
  expect(result.winners.length + result.losers).toBe(size);
  expect(await backend.read(key)).toMatchObject([{ index, value: { contender: result.winners[0] } }]);
}

/** Every index from 1 to CLAIM_UP_TO has exactly one winner, whose value the store holds. */
async function expectOneWinnerPerIndex(backend: Backend, key: RecordKey, result: ClaimRaceResult) {
  expect(result.errors).toEqual([]);
  const indexes = result.wins.map((w) => w.index).sort((a, b) => a - b);
  expect(indexes).toEqual(Array.from({ length: CLAIM_UP_TO }, (_, i) => i + 1));
  const stored = (await backend.read(key)).map((s) => ({ index: s.index, contender: s.value.contender }));
  expect(stored).toEqual([...result.wins].sort((a, b) => a.index - b.index));
}

function merge(results: CreateRaceResult[]): CreateRaceResult {
  return {
    winners: results.flatMap((r) => r.winners),
    losers: results.reduce((n, r) => n + r.losers, 0),
    errors: results.flatMap((r) => r.errors),
  };
}

/** Atomic create under contention: in one process and, for a shared store, across processes. */
export function races(target: ContractTarget, ctx: SuiteContext): void {
  const size = target.raceSize ?? 200;

  describe('races', () => {
    it(`${size} concurrent creates of one slot: exactly one winner`, { timeout: RACE_TIMEOUT_MS }, async () => {
      const key = [ctx.namespace(), 'task', 'scope'];
      const result = await createRace(ctx.backend, key, 1, ids('c', size));
      await expectOneWinner(ctx.backend, key, 1, result, size);
    });

    it(`contenders claiming n+1 after reading: one winner for each of ${CLAIM_UP_TO} indexes`, {
      timeout: RACE_TIMEOUT_MS,
    }, async () => {
      const key = [ctx.namespace(), 'task', 'scope'];
      const result = await claimRace(ctx.backend, key, CLAIM_UP_TO, ids('c', CLAIM_CONTENDERS));
      await expectOneWinnerPerIndex(ctx.backend, key, result);
    });

    it('a shared backend says how a child process builds it (spawn), so races run across processes', () => {
      expect(
        !ctx.backend.capabilities.shared || target.spawn !== undefined,
        `contract target ${target.name} is shared (capabilities.shared) but has no \`spawn\``,
      ).toBe(true);
    });

    // An unshared store (memory) lives in one process: there is nothing to race across processes.
    const spec = target.spawn;
    if (!spec) return;

    it(`${size} creates of one slot from ${PROCESSES} processes at once: exactly one winner`, {
      timeout: RACE_TIMEOUT_MS,
    }, async () => {
      const key = [ctx.namespace(), 'task', 'scope'];
      const perProcess = Math.ceil(size / PROCESSES);
      const jobs: WorkerJob[] = Array.from({ length: PROCESSES }, (_, p) => ({
        ...spec,
        mode: 'create',
        key,
        index: 1,
        ids: ids(`p${p}`, perProcess),
      }));
      const results = await raceInProcesses<CreateRaceResult>(jobs, RACE_TIMEOUT_MS - 10_000);
      await expectOneWinner(ctx.backend, key, 1, merge(results), perProcess * PROCESSES);
    });

    it(`claiming n+1 from ${CLAIM_PROCESSES} processes at once: one winner for each of ${CLAIM_UP_TO} indexes`, {
      timeout: RACE_TIMEOUT_MS,
    }, async () => {
      const key = [ctx.namespace(), 'task', 'scope'];
      const jobs: WorkerJob[] = Array.from({ length: CLAIM_PROCESSES }, (_, p) => ({
        ...spec,
        mode: 'claim',
        key,
        index: CLAIM_UP_TO,
        ids: ids(`p${p}`, CLAIM_CONTENDERS / CLAIM_PROCESSES),
      }));
      const results = await raceInProcesses<ClaimRaceResult>(jobs, RACE_TIMEOUT_MS - 10_000);
      await expectOneWinnerPerIndex(ctx.backend, key, {
        wins: results.flatMap((r) => r.wins),
        errors: results.flatMap((r) => r.errors),
      });
    });
  });
}
