/** The S3 actions the backend calls, and nothing else. */
export const S3_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] as const;

export interface S3IamPolicyDocument {
  Version: '2012-10-17';
  Statement: {
    Sid: string;
    Effect: 'Allow';
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string[]>>;
  }[];
}

/**
 * Least privilege for one bucket and prefix: the object actions on `<prefix>/*` only, and ListBucket
 * on the bucket only for keys under the prefix (DeleteObjects is authorised as s3:DeleteObject on each
 * key; HeadBucket as s3:ListBucket).
 */
export function s3IamPolicy(bucket: string, prefix = 'runonce'): S3IamPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RunOnceS3Objects',
        Effect: 'Allow',
        Action: [...S3_OBJECT_ACTIONS],
        Resource: [`arn:aws:s3:::${bucket}/${prefix}/*`],
      },
      {
        Sid: 'RunOnceS3List',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`],
        Condition: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
      },
    ],
  };
}
