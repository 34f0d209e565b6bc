import {
  AccessDeniedError,
  BackendUnavailableError,
  ConfigError,
  CorruptStateError,
  MissingTableError,
  RunOnceError,
  ValidationError,
} from '@runonce/core';

/**
 * Map a pg failure to the core's typed errors. A server error carries a five-character SQLSTATE in
 * `code` (class = its first two); anything without one (refused, reset, timed out, the pool's connect
 * timeout) means the server could not be asked, or did not answer.
 */
export function mapPostgresError(error: unknown, what: string, table: string): RunOnceError {
  if (RunOnceError.is(error)) return error;
  const e = error as { code?: string; message?: string } | undefined;
  const message = e?.message ?? String(error);
  const code = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (code === undefined)
    return new BackendUnavailableError(`PostgreSQL unreachable during ${what}: ${message}`, { cause: error });
  const cls = code.slice(0, 2);
  if (code === '42P01')
    return new MissingTableError(
      `PostgreSQL table ${table} does not exist (${what}): run \`runonce init\` to create it`,
      {
        cause: error,
      },
    );
  if (code === '42501' || cls === '28')
    return new AccessDeniedError(
      `PostgreSQL refused ${what}: ${message} (SQLSTATE ${code}; the role needs the grants \`runonce doctor\` prints)`,
      { cause: error },
    );
  if (code === '3D000' || code === '3F000')
    return new ConfigError(`PostgreSQL: ${message} (${what}); check the database in the URL`, { cause: error });
  if (code === '42703' || code === '42804')
    return new CorruptStateError(`PostgreSQL table ${table} is not runonce's (${what}): ${message}`, { cause: error });
  if (cls === '22' || cls === '23' || cls === '42')
    return new ValidationError(`PostgreSQL rejected ${what}: ${message} (SQLSTATE ${code})`, { cause: error });
  // 08 connection, 53 resources (too many connections), 57 shutdown or cancel, 40 rollback, 55 lock, 58, XX…
  return new BackendUnavailableError(`PostgreSQL could not serve ${what}: ${message} (SQLSTATE ${code})`, {
    cause: error,
  });
}
