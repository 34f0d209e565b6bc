import {
  AccessDeniedError,
  BackendUnavailableError,
  ConfigError,
  MissingTableError,
  RunOnceError,
  ThrottledError,
  ValidationError,
} from '@runonce/core';

/** Error names DynamoDB uses when it refused a request for rate: the request did nothing, so retrying is safe. */
const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'LimitExceededException',
]);

const ACCESS_NAMES = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'CredentialsProviderError',
  'IncompleteSignatureException',
]);

interface AwsLikeError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * How a failed call may be retried:
 * - `throttle`: refused for rate, certainly not applied; retry with backoff.
 * - `transient`: the network or a 5xx; it may or may not have been applied.
 * - `final`: a definite answer (condition failed, missing table, denied, invalid).
 */
export function classify(error: unknown): 'throttle' | 'transient' | 'final' {
  const e = error as AwsLikeError;
  if (!e || typeof e !== 'object') return 'final';
  if (e.name && THROTTLE_NAMES.has(e.name)) return 'throttle';
  const status = e.$metadata?.httpStatusCode;
  if (status === 429) return 'throttle';
  if (e.name && ACCESS_NAMES.has(e.name)) return 'final';
  if (isMissingRegion(e)) return 'final';
  if (e.$fault === 'server' || (status !== undefined && status >= 500)) return 'transient';
  // No HTTP status at all: the request never got an answer (refused, reset, DNS, timed out).
  if (status === undefined && e.$fault === undefined) return 'transient';
  return 'final';
}

export function mapDynamoDbError(error: unknown, what: string, table: string): RunOnceError {
  if (RunOnceError.is(error)) return error;
  const e = error as AwsLikeError;
  const message = e?.message ?? String(error);
  const name = e?.name ?? 'Error';
  if (name === 'ResourceNotFoundException')
    return new MissingTableError(
      `DynamoDB table "${table}" does not exist (${what}): run \`runonce init\` to create it (${message})`,
      { cause: error },
    );
  if (isMissingRegion(e))
    return new ConfigError(
      `DynamoDB: no AWS region configured (set AWS_REGION, a profile's region, or the backend's region option)`,
      { cause: error },
    );
  if (ACCESS_NAMES.has(name))
    return new AccessDeniedError(`DynamoDB refused ${what} on table "${table}": ${name}: ${message}`, { cause: error });
  if (classify(error) === 'throttle')
    return new ThrottledError(`DynamoDB kept throttling ${what} on table "${table}": ${message}`, { cause: error });
  if (name === 'ValidationException' || name === 'ItemCollectionSizeLimitExceededException')
    return new ValidationError(`DynamoDB rejected ${what} on table "${table}": ${message}`, { cause: error });
  return new BackendUnavailableError(`DynamoDB unavailable during ${what} on table "${table}": ${name}: ${message}`, {
    cause: error,
  });
}

/** The SDK's "Region is missing" is thrown before any request: configuration, not an outage. */
function isMissingRegion(e: AwsLikeError | undefined): boolean {
  return e?.$metadata === undefined && /^Region is missing/.test(e?.message ?? '');
}
