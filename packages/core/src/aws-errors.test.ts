import { describe, expect, it } from 'vitest';
import {
  awsErrorToRunOnce,
  classifyAwsError,
  gotNoResponse,
  mayHaveBeenApplied,
  sentMoreThanOnce,
} from './aws-errors.js';
import { ErrorCode } from './errors.js';

const sdk = (name: string, status?: number, fault?: 'client' | 'server', extra: object = {}) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    ...(fault ? { $fault: fault } : {}),
    ...(status !== undefined ? { $metadata: { httpStatusCode: status } } : {}),
    ...extra,
  });

describe('AWS errors, one vocabulary for every AWS backend', () => {
  it.each([
    // throttling, under the names SSM, DynamoDB and S3 use, or only the status
    ['ThrottlingException', 400, 'client', 'throttled'],
    ['ProvisionedThroughputExceededException', 400, 'client', 'throttled'],
    ['TooManyUpdates', 400, 'client', 'throttled'],
    ['SlowDown', 503, 'server', 'throttled'],
    ['Whatever', 429, 'client', 'throttled'],
    // credentials and policy
    ['AccessDeniedException', 400, 'client', 'denied'],
    ['MissingAuthenticationTokenException', 400, 'client', 'denied'],
    ['MissingAuthenticationToken', 403, 'client', 'denied'],
    ['CredentialsProviderError', undefined, undefined, 'denied'],
    // the request itself
    ['ValidationException', 400, 'client', 'invalid'],
    ['SomeClientError', 400, 'client', 'invalid'],
    // the service
    ['InternalServerError', 500, 'server', 'unavailable'],
  ] as const)('%s (HTTP %s) is %s', (name, status, fault, kind) => {
    expect(classifyAwsError(sdk(name, status, fault))).toBe(kind);
  });

  it('tells a network failure (maybe applied) from throttling (never applied)', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(classifyAwsError(reset)).toBe('network');
    expect(classifyAwsError(Object.assign(new Error('x'), { cause: reset }))).toBe('network');
    expect(classifyAwsError(sdk('TimeoutError'))).toBe('network');
    expect(mayHaveBeenApplied('network')).toBe(true);
    expect(mayHaveBeenApplied('unavailable')).toBe(true);
    expect(mayHaveBeenApplied('throttled')).toBe(false);
    expect(gotNoResponse(reset)).toBe(true);
    expect(gotNoResponse(sdk('X', 500, 'server'))).toBe(false);
    expect(sentMoreThanOnce(Object.assign(new Error('x'), { $metadata: { attempts: 3 } }))).toBe(true);
  });

  it('one typed error and exit code per cause; a missing region is configuration (78), not an outage', () => {
    const code = (e: unknown) => awsErrorToRunOnce(e, { service: 'S', what: 'read' }).code;
    expect(classifyAwsError(new Error('Region is missing'))).toBe('missingRegion');
    expect(code(new Error('Region is missing'))).toBe(ErrorCode.config);
    expect(code(sdk('ThrottlingException', 400, 'client'))).toBe(ErrorCode.throttled);
    expect(code(sdk('AccessDeniedException', 400, 'client'))).toBe(ErrorCode.accessDenied);
    expect(code(sdk('ValidationException', 400, 'client'))).toBe(ErrorCode.validation);
    expect(code(sdk('InternalServerError', 500, 'server'))).toBe(ErrorCode.backendUnavailable);
    const denied = awsErrorToRunOnce(sdk('AccessDeniedException', 400, 'client'), {
      service: 'SSM',
      what: 'PutParameter /a',
      where: 'http://x',
      deniedHint: 'see doctor',
    });
    expect(denied.message).toBe(
      'SSM refused PutParameter /a at http://x (AccessDeniedException: AccessDeniedException happened); see doctor',
    );
  });
});
