import {
  awsErrorToRunOnce,
  classifyAwsError,
  gotNoResponse,
  MissingTableError,
  type RetryVerdict,
  RunOnceError,
  ValidationError,
} from '@runonce/core';

/**
 * All DynamoDB decides of a failed call, in core's retry vocabulary (core's `retry` does the rest):
 * - `throttled`: refused for rate, certainly not applied.
 * - `maybeApplied`: the network or a 5xx; it may or may not have been applied.
 * - `final`: a definite answer (condition failed, missing table, denied, invalid, no region).
 */
export function classify(error: unknown): RetryVerdict {
  if (!error || typeof error !== 'object' || RunOnceError.is(error)) return 'final';
  const kind = classifyAwsError(error);
  if (kind === 'throttled') return 'throttled';
  if (kind === 'network' || kind === 'unavailable') return 'maybeApplied';
  // No HTTP status at all: the request never got an answer (refused, reset, DNS, timed out).
  if (kind === 'other' && gotNoResponse(error)) return 'maybeApplied';
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
