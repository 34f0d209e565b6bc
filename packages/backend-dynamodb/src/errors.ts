import {
  awsErrorToRunOnce,
  classifyAwsError,
  gotNoResponse,
  MissingTableError,
  RunOnceError,
  ValidationError,
} from '@runonce/core';

/**
 * How a failed call may be retried, from core's AWS vocabulary:
 * - `throttle`: refused for rate, certainly not applied; retry with backoff.
 * - `transient`: the network or a 5xx; it may or may not have been applied.
 * - `final`: a definite answer (condition failed, missing table, denied, invalid, no region).
 */
export function classify(error: unknown): 'throttle' | 'transient' | 'final' {
  if (!error || typeof error !== 'object') return 'final';
  const kind = classifyAwsError(error);
  if (kind === 'throttled') return 'throttle';
  if (kind === 'network' || kind === 'unavailable') return 'transient';
  // No HTTP status at all: the request never got an answer (refused, reset, DNS, timed out).
  if (kind === 'other' && gotNoResponse(error)) return 'transient';
  return 'final';
}

export function mapDynamoDbError(error: unknown, what: string, table: string): RunOnceError {
  if (RunOnceError.is(error)) return error;
  const e = error as { name?: string; message?: string } | undefined;
  const message = e?.message ?? String(error);
  const name = e?.name ?? 'Error';
  if (name === 'ResourceNotFoundException')
    return new MissingTableError(
      `DynamoDB table "${table}" does not exist (${what}): run \`runonce init\` to create it (${message})`,
      { cause: error },
    );
  if (name === 'ItemCollectionSizeLimitExceededException')
    return new ValidationError(`DynamoDB rejected ${what} on table "${table}": ${message}`, { cause: error });
  return awsErrorToRunOnce(error, {
    service: 'DynamoDB',
    what: `${what} on table "${table}"`,
    deniedHint: 'the role needs the policy `runonce doctor` prints',
  });
}
