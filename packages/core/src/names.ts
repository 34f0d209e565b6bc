import { UsageError } from './errors.js';

/** Task, namespace and lock names: what SPEC.md allows, and safe in every backend's keys. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Scopes: a git sha, a build number, a release tag. */
export const SCOPE_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export function validateName(kind: 'task' | 'namespace' | 'lock', value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new UsageError(
      `invalid ${kind} name ${JSON.stringify(value)}: use 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit`,
    );
  }
  return value;
}

export function validateScope(value: unknown): string {
  if (value === '.' || value === '..') {
    // Allowed by the pattern, but every backend keys records by path-like segments (a directory, an SSM
    // parameter path, an S3 key), where these two mean "here" and "up".
    throw new UsageError(`invalid scope ${JSON.stringify(value)}: . and .. are path segments, not scopes`);
  }
  if (typeof value !== 'string' || !SCOPE_PATTERN.test(value)) {
    throw new UsageError(
      `invalid scope ${JSON.stringify(value)}: use 1-128 of A-Z a-z 0-9 _ . - (a git sha, a build number, a tag)`,
    );
  }
  return value;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `10m`, `1h`, `1.5s`, or a number of milliseconds. */
export type Duration = string | number;

export function parseDuration(value: Duration, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
    if (m) {
      const ms = Number(m[1]) * (UNITS[m[2] as string] as number);
      if (Number.isFinite(ms) && ms <= 365 * 24 * 3_600_000) return Math.round(ms);
    }
  }
  throw new UsageError(`invalid ${what} ${JSON.stringify(value)}: use a number and a unit, e.g. 500ms, 30s, 10m, 1h`);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}
