import {
  AccessDeniedError,
  BackendUnavailableError,
  type RunOnceError,
  ThrottledError,
  ValidationError,
} from '@runonce/core';

/** How the backend treats an SDK error. */
export type ErrorKind =
  /** Rejected before it ran (ThrottlingException, TooManyUpdates, HTTP 429): wait and send again. */
  | 'throttled'
  /** The service failed (HTTP 5xx after the SDK's own retries): it may or may not have applied the request. */
  | 'unavailable'
  /** Network: refused, DNS, reset, timed out. It may have applied the request if it got that far. */
  | 'network'
  | 'denied'
  | 'invalid'
  | 'exists'
  | 'notFound'
  | 'other';

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'TooManyUpdates',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'ExpiredToken',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
]);

const INVALID = new Set([
  'ValidationException',
  'HierarchyLevelLimitExceededException',
  'HierarchyTypeMismatchException',
  'ParameterPatternMismatchException',
  'ParameterMaxVersionLimitExceeded',
  'ParameterLimitExceeded',
  'UnsupportedParameterType',
  'InvalidAllowedPatternException',
  'InvalidFilterKey',
  'InvalidFilterOption',
  'InvalidFilterValue',
  'InvalidKeyId',
  'InvalidNextToken',
  'InvalidPolicyTypeException',
  'PoliciesLimitExceededException',
  'IncompatiblePolicyException',
  'TooManyTagsError',
  'SerializationException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'EADDRNOTAVAIL',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: { throttling?: boolean };
  cause?: unknown;
}

export function classify(e: unknown): ErrorKind {
  const err = (e ?? {}) as SdkErrorShape;
  const name = err.name ?? '';
  const status = err.$metadata?.httpStatusCode;
  if (name === 'ParameterAlreadyExists') return 'exists';
  if (name === 'ParameterNotFound' || name === 'ParameterVersionNotFound') return 'notFound';
  if (THROTTLING.has(name) || err.$retryable?.throttling === true || status === 429) return 'throttled';
  if (DENIED.has(name) || status === 403) return 'denied';
  if (INVALID.has(name)) return 'invalid';
  if (isNetwork(err)) return 'network';
  if (status !== undefined && status >= 500) return 'unavailable';
  if (err.$fault === 'server') return 'unavailable';
  if (err.$fault === 'client' || (status !== undefined && status >= 400)) return 'invalid';
  return 'other';
}

function isNetwork(err: SdkErrorShape): boolean {
  for (let cur: SdkErrorShape | undefined = err, depth = 0; cur && depth < 5; depth++) {
    if (cur.code && NETWORK_CODES.has(cur.code)) return true;
    if (cur.name === 'TimeoutError' || cur.name === 'AbortError' || cur.name === 'RequestTimeout') return true;
    // the Node handler reports a refused or reset socket as a bare Error with `code`;
    // an error with no HTTP status at all never reached a server.
    cur = cur.cause as SdkErrorShape | undefined;
  }
  return err.$metadata?.httpStatusCode === undefined && err.$fault === undefined && typeof err.code === 'string';
}

/** True when the SDK sent the request more than once: a later attempt may have met the earlier one's effect. */
export function sentMoreThanOnce(e: unknown): boolean {
  return ((e as SdkErrorShape | undefined)?.$metadata?.attempts ?? 1) > 1;
}

/** Maps an SDK error to the core's typed errors; `what` says which call on which name. */
export function mapSsmError(e: unknown, what: string, endpoint: string | undefined): RunOnceError {
  const err = (e ?? {}) as SdkErrorShape;
  const detail = `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
  const where = endpoint ? ` at ${endpoint}` : '';
  switch (classify(e)) {
    case 'throttled':
      return new ThrottledError(`SSM throttled ${what}${where} and retries ran out (${detail})`, { cause: e });
    case 'denied':
      return new AccessDeniedError(
        `SSM refused ${what}${where} (${detail}); the role needs the policy \`runonce doctor\` prints`,
        { cause: e },
      );
    case 'invalid':
    case 'exists':
    case 'notFound':
      return new ValidationError(`SSM rejected ${what} (${detail})`, { cause: e });
    case 'network':
    case 'unavailable':
      return new BackendUnavailableError(`SSM${where} is unreachable for ${what} (${detail})`, { cause: e });
    default:
      if (/region is missing/i.test(err.message ?? '')) {
        return new BackendUnavailableError(
          'no AWS region: set AWS_REGION (or a profile with a region, or the backend option `region`)',
          { cause: e },
        );
      }
      return new BackendUnavailableError(`SSM${where} failed on ${what} (${detail})`, { cause: e });
  }
}
