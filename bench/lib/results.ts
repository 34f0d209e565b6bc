/** Everything one `pnpm bench` run measured; report.ts renders it. */
import type { Counts, Operation } from '../parts/calls.ts';
import type { RaceResult } from '../parts/race.ts';
import type { ReadRateResult } from '../parts/read-rate.ts';
import type { SkipResult } from '../parts/skip-cost.ts';
import type { WaitersResult } from '../parts/waiters.ts';
import type { Machine } from './machine.ts';

/** One lock library under N contenders at one setting (bench/redis-lock.ts). */
export interface LockContended {
  /** The library's documented defaults, or its retry tuned for speed. */
  setting: 'default' | 'tuned';
  settings: string;
  perSecond: number;
  /** Of all acquisitions, the share the busiest contender took (1/N is fair). */
  busiestShare: number;
  /** From asking to holding. */
  waitMs: { p50: number; p99: number; worst: number };
}

export interface LockRow {
  name: string;
  /**
   * Set on a row shown for context, not against a goal: a peer with its release not awaited (the
   * trick runonce's withLock plays on an ordered store), runonce with its release awaited.
   */
  context?: string;
  /** One caller, cycles per second (median of the rounds). */
  sequential: number;
  /** Its cycles/s as a fraction of two PING round trips, per round (median). */
  ofPing: number;
  /** runonce's cycles/s over this library's, per round (median). */
  runonceOverIt: number;
  contended: LockContended[];
}

export interface LockResults {
  rounds: number;
  roundMs: number;
  /** Per contended setting. */
  seconds: number;
  contenders: number;
  holdMs: number;
  /** Two PING round trips per second on a connection of its own (median of the rounds): the limit. */
  ping: number;
  results: LockRow[];
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
  setup: { ssm: string; dynamodb: string; redis: string; postgres?: string; aws: string };
  durationMs?: number;
  /** Instances started together, then spread over a few seconds. */
  races: RaceResult[];
  /** Why a part is missing (the aws CLI could not be found or installed, a child failed). */
  missing: Record<string, string>;
  skip?: SkipResult;
  calls: Record<string, Record<Operation, Counts>>;
  ssmSdk?: SsmSdkRow[];
  lock?: LockResults;
  readRate?: ReadRateResult;
  waiters?: WaitersResult;
  /** The same waiters on the file backend without its watch (polls only): the baseline of `waiters`. */
  waitersPollOnly?: WaitersResult;
  /** The same on Redis (woken by PUBLISH), and its polling-only baseline. */
  waitersRedis?: WaitersResult;
  waitersRedisPollOnly?: WaitersResult;
  /** The same on PostgreSQL (woken by NOTIFY), and its polling-only baseline. */
  waitersPostgres?: WaitersResult;
  waitersPostgresPollOnly?: WaitersResult;
}
