import {
  AccessDeniedError,
  BackendUnavailableError,
  CorruptStateError,
  RunOnceError,
  ValidationError,
} from '@runonce/core';

/**
 * Map an ioredis failure to the core's typed errors. A Redis reply error
 * (`ReplyError`) carries the server's code as the first word of its message;
 * everything else (refused, reset, timed out, the offline queue flushed) means
 * the server could not be asked, so the caller knows nothing was decided.
 */
export function mapRedisError(error: unknown, what: string): RunOnceError {
  if (RunOnceError.is(error)) return error;
  const err = error as { name?: string; message?: string; code?: string };
  const message = err?.message ?? String(error);
  if (err?.name === 'ReplyError') {
    const code = message.split(' ', 1)[0] ?? '';
    if (code === 'NOAUTH' || code === 'WRONGPASS' || code === 'NOPERM')
      return new AccessDeniedError(`Redis refused ${what}: ${message}`, { cause: error });
    if (code === 'WRONGTYPE')
      return new CorruptStateError(`Redis key for ${what} holds something runonce did not write: ${message}`, {
        cause: error,
      });
    if (code === 'ERR' && /too large|invalid/i.test(message))
      return new ValidationError(`Redis rejected ${what}: ${message}`, { cause: error });
    // LOADING, BUSY, MASTERDOWN, READONLY (a failover), OOM, CLUSTERDOWN…: the server is not serving us now.
    return new BackendUnavailableError(`Redis could not serve ${what}: ${message}`, { cause: error });
  }
  return new BackendUnavailableError(`Redis unreachable during ${what}: ${message}`, { cause: error });
}
