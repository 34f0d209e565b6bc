import { awsErrorToRunOnce, classifyAwsError, MissingTableError, type RetryVerdict, RunOnceError } from '@runonce/core';

/**
 * All S3 decides of a failed call (core's `retry` does the rest): `SlowDown` and the other throttles
 * did not run; 409 `ConditionalRequestConflict` (another conditional write of the key in flight) did
 * not either, and is sent again; the network and 5xx may have been applied (every call here is safe to
 * repeat: a create settles it by its token). Everything else is an answer, 412 included.
 */
export function classify(e: unknown): RetryVerdict {
  if (!e || typeof e !== 'object' || RunOnceError.is(e)) return 'final';
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err.name === 'ConditionalRequestConflict' || err.$metadata?.httpStatusCode === 409) return 'throttled';
  if (err.name === 'PreconditionFailed' || err.name === 'NoSuchKey' || err.name === 'NoSuchBucket') return 'final';
  const kind = classifyAwsError(e);
  if (kind === 'throttled') return 'throttled';
  if (kind === 'network' || kind === 'unavailable') return 'maybeApplied';
  return 'final';
}

/** Maps an SDK error to core's typed errors; the SDK's error stays the cause (create reads 412 from it). */
export function mapS3Error(e: unknown, what: string, bucket: string): RunOnceError {
  if (RunOnceError.is(e)) return e;
  const name = (e as { name?: string } | null)?.name;
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket' || (name === 'NotFound' && what.includes('HeadBucket')))
    return new MissingTableError(
      `S3 bucket ${bucket} does not exist (${what}): create it (aws s3 mb s3://${bucket}), then \`runonce init\``,
      { cause: e },
    );
  const kind = name === 'PreconditionFailed' || name === 'NoSuchKey' || status === 412 ? 'invalid' : undefined;
  return awsErrorToRunOnce(e, {
    service: 'S3',
    what,
    ...(kind ? { kind } : {}),
    deniedHint: 'the role needs the policy `runonce doctor` prints',
  });
}
