import { type AwsErrorKind, awsErrorToRunOnce, classifyAwsError, RunOnceError } from '@runonce/core';

export { sentMoreThanOnce } from '@runonce/core';

/** How the backend treats an SDK error: core's AWS vocabulary, plus SSM's own answers. */
export type ErrorKind = AwsErrorKind | 'exists' | 'notFound';

/** SSM's names for a request it rejected as such (beyond the ones every AWS service uses). */
const INVALID = new Set([
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
]);

export function classify(e: unknown): ErrorKind {
  const name = (e as { name?: string } | null)?.name ?? '';
  if (name === 'ParameterAlreadyExists') return 'exists';
  if (name === 'ParameterNotFound' || name === 'ParameterVersionNotFound') return 'notFound';
  if (INVALID.has(name)) return 'invalid';
  return classifyAwsError(e);
}

/** Maps an SDK error to the core's typed errors; `what` says which call on which name. */
export function mapSsmError(e: unknown, what: string, endpoint: string | undefined): RunOnceError {
  if (RunOnceError.is(e)) return e;
  const kind = classify(e);
  return awsErrorToRunOnce(e, {
    service: 'SSM',
    what,
    where: endpoint,
    kind: kind === 'exists' || kind === 'notFound' ? 'invalid' : kind,
    deniedHint: 'the role needs the policy `runonce doctor` prints',
  });
}
