/**
 * Which backend names the CLI accepts: the built-in ones, a path to a
 * module, or a package-shaped name (SPEC: `@scope/name`, or one containing
 * `runonce-backend`). Anything else is a mistake, never an import. Checked as
 * the configuration is resolved, so a bad name from a flag or the environment
 * is a usage error (64) and one from a config file a configuration error (78).
 */
import { UsageError } from '@runonce/core';

/** Backend names the CLI knows, and the package that provides each. */
export const BUILTIN_BACKENDS: Readonly<Record<string, string>> = {
  ssm: '@runonce/backend-ssm',
  dynamodb: '@runonce/backend-dynamodb',
  redis: '@runonce/backend-redis',
  postgres: '@runonce/backend-postgres',
  s3: '@runonce/backend-s3',
};

/** The name as it is, or a UsageError with the valid names and the nearest one. */
export function checkBackendName(name: string): string {
  if (name === 'file' || name in BUILTIN_BACKENDS || isPath(name) || looksLikeBackendPackage(name)) return name;
  throw unknownBackend(name);
}

export const isPath = (specifier: string): boolean => /^(\.{1,2}\/|\/)/.test(specifier);

/** SPEC: a package name is `@scope/name` or holds `runonce-backend`; anything else is a typo, never an import. */
export function looksLikeBackendPackage(specifier: string): boolean {
  const name = /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i;
  return name.test(specifier) && (specifier.startsWith('@') || specifier.includes('runonce-backend'));
}

export function unknownBackend(name: string): UsageError {
  const known = ['file', ...Object.keys(BUILTIN_BACKENDS)];
  const near = known
    .map((k) => ({ k, d: editDistance(name.toLowerCase(), k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)) || k.startsWith(name.toLowerCase()))
    .sort((a, b) => a.d - b.d)[0];
  return new UsageError(
    `unknown backend ${JSON.stringify(name)}${near ? ` (did you mean ${near.k}?)` : ''}: use ${known.join(', ')}, ` +
      'or a backend package (a scoped name like @acme/runonce-backend-etcd, or a name containing runonce-backend)',
  );
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}
