/** The SSM actions the backend calls, and nothing else. */
export const SSM_ACTIONS = [
  'ssm:PutParameter',
  'ssm:GetParametersByPath',
  'ssm:GetParameterHistory',
  'ssm:DeleteParameters',
] as const;

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: { Sid: string; Effect: 'Allow'; Action: string[]; Resource: string[] }[];
}

/**
 * The least-privilege policy for one prefix: the four actions on the
 * parameters below the prefix, and on the prefix itself (GetParametersByPath
 * is authorised on the path's own ARN: `list` of a whole namespace asks for
 * `<prefix>/<ns>`, `prune` and `doctor` for `<prefix>`). No KMS: String
 * parameters are not encrypted with a key.
 */
export function iamPolicy(prefix = '/runonce', region = '*', account = '*'): IamPolicyDocument {
  const arn = `arn:aws:ssm:${region}:${account}:parameter${prefix}`;
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: 'RunOnceSsmBackend', Effect: 'Allow', Action: [...SSM_ACTIONS], Resource: [arn, `${arn}/*`] }],
  };
}

/** The same, as the JSON text `runonce doctor` prints. */
export function iamPolicyJson(prefix?: string, region?: string, account?: string): string {
  return JSON.stringify(iamPolicy(prefix, region, account), null, 2);
}
