/**
 * The IAM policy the backend needs, for `runonce doctor` and the docs. The
 * first statement is all an instance needs to run tasks; the second only
 * `runonce init`, which creates the table (give it to the pipeline role).
 */
export function dynamoDbIamPolicy(
  options: { table?: string; region?: string; account?: string; includeInit?: boolean } = {},
): { Version: '2012-10-17'; Statement: Array<{ Sid: string; Effect: 'Allow'; Action: string[]; Resource: string }> } {
  const arn = `arn:aws:dynamodb:${options.region ?? '*'}:${options.account ?? '*'}:table/${options.table ?? 'runonce'}`;
  const Statement: Array<{ Sid: string; Effect: 'Allow'; Action: string[]; Resource: string }> = [
    {
      Sid: 'RunonceUse',
      Effect: 'Allow',
      Action: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:DescribeTable',
      ],
      Resource: arn,
    },
  ];
  if (options.includeInit !== false)
    Statement.push({
      Sid: 'RunonceInit',
      Effect: 'Allow',
      Action: [
        'dynamodb:CreateTable',
        'dynamodb:DescribeTable',
        'dynamodb:DescribeTimeToLive',
        'dynamodb:UpdateTimeToLive',
      ],
      Resource: arn,
    });
  return { Version: '2012-10-17', Statement };
}
