// What an AWS SDK error means, for every AWS-shaped backend (SSM, DynamoDB, and those to come): one
// vocabulary, one list of names per cause, one typed error and exit code per cause. It reads the
// shape of the SDK's errors (name, $fault, $metadata, code) and imports no SDK: core stays free of them.
import {
  AccessDeniedError,
  BackendUnavailableError,
  ConfigError,
  type RunOnceError,
  ThrottledError,
  ValidationError,
} from './errors.js';

/**
 * - `throttled`: refused for rate before it ran: certainly not applied; wait and send again.
 * - `unavailable`: the service failed (5xx after the SDK's own retries): it may have been applied.
 * - `network`: refused, reset, DNS, timed out: it may have been applied if it got that far.
 * - `denied`: credentials or policy. `invalid`: the request itself. `missingRegion`: configuration.
 * - `other`: none of these (a backend may know its service's own names first).
 */
export type AwsErrorKind = 'throttled' | 'unavailable' | 'network' | 'denied' | 'invalid' | 'missingRegion' | 'other';

const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'TooManyUpdates',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
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
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);

const INVALID = new Set(['ValidationException', 'SerializationException']);

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

export function classifyAwsError(e: unknown): AwsErrorKind {
  const err = (e ?? {}) as SdkErrorShape;
  const name = err.name ?? '';
  const status = err.$metadata?.httpStatusCode;
  if (THROTTLED.has(name) || err.$retryable?.throttling === true || status === 429) return 'throttled';
  if (DENIED.has(name) || status === 403) return 'denied';
  // The SDK's "Region is missing" is thrown before any request: configuration, not an outage.
  if (err.$metadata === undefined && /^Region is missing/i.test(err.message ?? '')) return 'missingRegion';
  if (INVALID.has(name)) return 'invalid';
  if (isNetwork(err)) return 'network';
  if (status !== undefined && status >= 500) return 'unavailable';
  if (err.$fault === 'server') return 'unavailable';
  if (err.$fault === 'client' || (status !== undefined && status >= 400)) return 'invalid';
  return 'other';
}

/** Whether a request that failed so may still have been applied (so a create must look before it resends). */
export function mayHaveBeenApplied(kind: AwsErrorKind): boolean {
  return kind === 'network' || kind === 'unavailable';
}

/** The request got no answer at all: no HTTP status, no fault (refused, reset, DNS, timed out). */
export function gotNoResponse(e: unknown): boolean {
  const err = (e ?? {}) as SdkErrorShape;
  return err.$metadata?.httpStatusCode === undefined && err.$fault === undefined;
}

/** True when the SDK sent the request more than once: a later attempt may have met the earlier one's effect. */
export function sentMoreThanOnce(e: unknown): boolean {
  return ((e as SdkErrorShape | undefined)?.$metadata?.attempts ?? 1) > 1;
}

function isNetwork(err: SdkErrorShape): boolean {
  for (let cur: SdkErrorShape | undefined = err, depth = 0; cur && depth < 5; depth++) {
    if (cur.code && NETWORK_CODES.has(cur.code)) return true;
    if (cur.name === 'TimeoutError' || cur.name === 'AbortError' || cur.name === 'RequestTimeout') return true;
    cur = cur.cause as SdkErrorShape | undefined;
  }
  // The Node handler reports a refused or reset socket as a bare Error with `code`; an error with no
  // HTTP status at all never reached a server.
  return gotNoResponse(err) && typeof err.code === 'string';
}

/**
 * The typed error for an AWS SDK error, one per cause: throttled → ThrottledError (exit 69), denied →
 * AccessDeniedError (69, with the hint), invalid → ValidationError, a missing region → ConfigError
 * (78), anything else → BackendUnavailableError (69). `what` names the call; `where` the endpoint or
 * resource.
 */
export function awsErrorToRunOnce(
  e: unknown,
  o: { service: string; what: string; where?: string | undefined; kind?: AwsErrorKind; deniedHint?: string },
): RunOnceError {
  const err = (e ?? {}) as SdkErrorShape;
  const detail = `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
  const at = o.where ? ` at ${o.where}` : '';
  switch (o.kind ?? classifyAwsError(e)) {
    case 'throttled':
      return new ThrottledError(`${o.service} throttled ${o.what}${at} and retries ran out (${detail})`, { cause: e });
    case 'denied':
      return new AccessDeniedError(
        `${o.service} refused ${o.what}${at} (${detail})${o.deniedHint ? `; ${o.deniedHint}` : ''}`,
        { cause: e },
      );
    case 'invalid':
      return new ValidationError(`${o.service} rejected ${o.what} (${detail})`, { cause: e });
    case 'missingRegion':
      return new ConfigError(
        `${o.service}: no AWS region: set AWS_REGION (or a profile with a region, or the backend option \`region\`)`,
        { cause: e },
      );
    case 'network':
    case 'unavailable':
      return new BackendUnavailableError(`${o.service}${at} is unreachable for ${o.what} (${detail})`, { cause: e });
    default:
      return new BackendUnavailableError(`${o.service}${at} failed on ${o.what} (${detail})`, { cause: e });
  }
}
