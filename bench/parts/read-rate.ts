/**
 * The read rate of a fleet of waiters on the stores that cannot wake them (SSM, DynamoDB, S3), against
 * each API's documented limit. Drawn, not timed: N waiters start within the same second and poll on the
 * engine's own schedule (core's BACKOFF.poll through backoffDelay, jitter from Math.random), one read
 * per poll, counted in one-second buckets over `seconds`. A read is one request on SSM
 * (GetParametersByPath, one page for a record of up to 10 slots) and DynamoDB (Query, strongly
 * consistent: 1 read unit for a record under 4 KB), two on S3 for a one-slot record (ListObjectsV2 and
 * GetObject). The limits are AWS's documented defaults as docs/backends/{ssm,dynamodb,s3}.md quote them.
 */
import { BACKOFF, backoffDelay } from '@runonce/core';

export interface ReadRateRow {
  store: 'ssm' | 'dynamodb' | 's3';
  requestsPerRead: number;
  /** Requests per second in the busiest second. */
  peak: number;
  /** Requests per second once every waiter polls at the cap (after `steadyFromS`). */
  steady: number;
  limit: number;
  limitText: string;
}

export interface ReadRateResult {
  waiters: number;
  seconds: number;
  steadyFromS: number;
  rows: ReadRateRow[];
}

const STORES: readonly Omit<ReadRateRow, 'peak' | 'steady'>[] = [
  {
    store: 'ssm',
    requestsPerRead: 1,
    limit: 40,
    limitText:
      'GetParameter(s) and GetParametersByPath share 40/s per account and region (higher throughput: 100/s for GetParametersByPath)',
  },
  {
    store: 'dynamodb',
    requestsPerRead: 1,
    limit: 3000,
    limitText: '3,000 read units/s per partition (a record is one partition key)',
  },
  { store: 's3', requestsPerRead: 2, limit: 5500, limitText: '5,500 GET/HEAD/s per prefix (LIST counted with them)' },
];

/** Polls per one-second bucket of `waiters` waiters that start within the first second. */
export function pollsPerSecond(waiters: number, seconds: number, random: () => number = Math.random): number[] {
  const buckets = new Array<number>(seconds).fill(0);
  for (let w = 0; w < waiters; w++) {
    // a waiter's first read is the one that finds the task held; it then polls after each pause
    let t = random() * 1000;
    for (let round = 0; t < seconds * 1000; round++) {
      const second = Math.floor(t / 1000);
      buckets[second] = (buckets[second] as number) + 1;
      t += backoffDelay(BACKOFF.poll, round, random);
    }
  }
  return buckets;
}

/** By when every waiter polls at the cap: a start within the first second, then each pause before it at its longest. */
function secondsToCap(): number {
  const longest = (round: number) => backoffDelay(BACKOFF.poll, round, () => 1);
  const atCap = longest(Number.POSITIVE_INFINITY);
  let t = 1000;
  for (let round = 0; longest(round) < atCap; round++) t += longest(round);
  return Math.ceil(t / 1000);
}

export function readRate(waiters = 200, seconds = 300): ReadRateResult {
  const polls = pollsPerSecond(waiters, seconds);
  const steadyFromS = secondsToCap();
  const steadyPolls = polls.slice(steadyFromS);
  const steady = steadyPolls.reduce((a, b) => a + b, 0) / steadyPolls.length;
  const peak = Math.max(...polls);
  return {
    waiters,
    seconds,
    steadyFromS,
    rows: STORES.map((s) => ({ ...s, peak: peak * s.requestsPerRead, steady: steady * s.requestsPerRead })),
  };
}
