/** Everything one `pnpm bench` run measured; report.ts renders it. */
import type { Counts, Operation } from '../parts/calls.ts';
import type { RaceResult } from '../parts/race.ts';
import type { SkipResult } from '../parts/skip-cost.ts';
import type { WaitersResult } from '../parts/waiters.ts';
import type { Machine } from './machine.ts';

export interface LockRow {
  name: string;
  settings: string;
  sequential: number;
  contended: number;
}

export interface SsmSdkRow {
  scenario: string;
  calls: number;
  detail: string;
  goal?: number;
}

export interface BenchResults {
  machine: Machine;
  /** Where each server came from (local binary, env, container) and the tools' versions. */
  setup: { ssm: string; dynamodb: string; redis: string; aws: string };
  durationMs?: number;
  /** Instances started together, then spread over a few seconds. */
  races: RaceResult[];
  /** Why a part is missing (the aws CLI could not be found or installed, a child failed). */
  missing: Record<string, string>;
  skip?: SkipResult;
  calls: Record<string, Record<Operation, Counts>>;
  ssmSdk?: SsmSdkRow[];
  lock?: { seconds: number; contenders: number; results: LockRow[] };
  waiters?: WaitersResult;
  /** The same waiters on the file backend without its watch (polls only): the baseline of `waiters`. */
  waitersPollOnly?: WaitersResult;
  /** The same on Redis (woken by PUBLISH), and its polling-only baseline. */
  waitersRedis?: WaitersResult;
  waitersRedisPollOnly?: WaitersResult;
}
