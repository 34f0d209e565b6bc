/**
 * What one contender does in a race, shared by the in-process races and the
 * child-process worker (so this file must not import vitest).
 */
import type { Backend, RecordKey } from '@runonce/core';

export interface CreateRaceResult {
  /** Contender ids that were told they won. */
  readonly winners: string[];
  readonly losers: number;
  /** Calls that threw: each one fails the race. */
  readonly errors: string[];
}

/** `ids.length` contenders create the same slot at once. */
export async function createRace(
  backend: Backend,
  key: RecordKey,
  index: number,
  ids: string[],
): Promise<CreateRaceResult> {
  const winners: string[] = [];
  const errors: string[] = [];
  let losers = 0;
  await Promise.all(
    ids.map(async (contender) => {
      try {
        const result = await backend.create(key, index, { contender });
        if (result.won) winners.push(contender);
        else losers++;
      } catch (e) {
        errors.push(`${contender}: ${describeError(e)}`);
      }
    }),
  );
  return { winners, losers, errors };
}

export interface ClaimRaceResult {
  /** Every index some contender was told it won, with that contender. */
  readonly wins: { index: number; contender: string }[];
  readonly errors: string[];
}

/**
 * The engine's claim pattern: read the record, create slot n+1 where n is the
 * highest slot seen, until slot `upTo` exists. A stale read only makes a
 * create lose; it must never make two contenders win one index.
 */
export async function claimRace(
  backend: Backend,
  key: RecordKey,
  upTo: number,
  ids: string[],
): Promise<ClaimRaceResult> {
  const wins: { index: number; contender: string }[] = [];
  const errors: string[] = [];
  await Promise.all(
    ids.map(async (contender) => {
      try {
        for (;;) {
          const slots = await backend.read(key);
          const highest = slots.reduce((max, s) => Math.max(max, s.index), 0);
          if (highest >= upTo) return;
          const result = await backend.create(key, highest + 1, { contender });
          if (result.won) wins.push({ index: highest + 1, contender });
        }
      } catch (e) {
        errors.push(`${contender}: ${describeError(e)}`);
      }
    }),
  );
  return { wins, errors };
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return `${(e as { code?: unknown }).code ?? e.name}: ${e.message}`;
  return String(e);
}
