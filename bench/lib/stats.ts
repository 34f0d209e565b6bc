/** Small statistics over samples (milliseconds, counts). */

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  // nearest rank: the smallest sample with at least q of the samples at or below it
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
export const max = (xs: readonly number[]): number => Math.max(...xs);
export const min = (xs: readonly number[]): number => Math.min(...xs);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
