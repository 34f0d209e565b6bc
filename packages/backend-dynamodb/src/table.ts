import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { ConfigError } from '@runonce/core';
import { mapDynamoDbError } from './errors.js';

export const TTL_ATTRIBUTE = 'expiresAt';

export interface CreateTableResult {
  readonly table: string;
  /** False when the table existed already (with the right keys). */
  readonly created: boolean;
  /** `unsupported`: the endpoint has no TTL API (dynalite); old scopes then stay until `runonce prune`. */
  readonly ttl: 'enabled' | 'unsupported';
}

/**
 * What `runonce init` does for DynamoDB, safe to run again and again: create
 * the table (on-demand billing, pk S + sk N) unless it exists, wait until it
 * is ACTIVE, check an existing table has runonce's keys, and turn on TTL on
 * `expiresAt` where the endpoint supports it.
 */
export async function createTable(
  client: DynamoDBClient,
  table: string,
  options: { timeoutMs?: number } = {},
): Promise<CreateTableResult> {
  const map = (what: string) => (e: unknown) => {
    throw mapDynamoDbError(e, what, table);
  };
  let created = true;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (e) {
    if ((e as { name?: string }).name !== 'ResourceInUseException') map('CreateTable')(e);
    created = false;
  }

  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  let description: TableDescription | undefined;
  for (;;) {
    description = (await client.send(new DescribeTableCommand({ TableName: table })).catch(map('DescribeTable'))).Table;
    if (description?.TableStatus === 'ACTIVE') break;
    if (Date.now() > deadline)
      throw new ConfigError(`DynamoDB table "${table}" is ${description?.TableStatus ?? 'missing'}, not ACTIVE`);
    await new Promise((r) => setTimeout(r, 500));
  }
  checkSchema(table, description);

  let ttl: CreateTableResult['ttl'] = 'enabled';
  try {
    const current = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    const status = current.TimeToLiveDescription?.TimeToLiveStatus;
    if (status !== 'ENABLED' && status !== 'ENABLING')
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: table,
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        }),
      );
  } catch (e) {
    const name = (e as { name?: string }).name ?? '';
    // dynalite has no TTL API; an emulator answers UnknownOperation / 400 for it.
    if (/UnknownOperation|NotImplemented|InvalidAction|UnrecognizedOperation/i.test(name) || isUnknownOp(e))
      ttl = 'unsupported';
    else map('UpdateTimeToLive')(e);
  }
  return { table, created, ttl };
}

function isUnknownOp(e: unknown): boolean {
  const msg = (e as { message?: string }).message ?? '';
  return /unknown operation|not (yet )?implemented|not supported/i.test(msg);
}

function checkSchema(table: string, d: TableDescription | undefined): void {
  const hash = d?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
  const range = d?.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  const type = (name: string) => d?.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
  if (hash !== 'pk' || range !== 'sk' || type('pk') !== 'S' || type('sk') !== 'N')
    throw new ConfigError(
      `DynamoDB table "${table}" exists but is not a runonce table (keys must be pk: S hash, sk: N range; ` +
        `found ${hash ?? '?'}: ${hash ? type(hash) : '?'}, ${range ?? '?'}: ${range ? type(range) : '?'}); choose another --table`,
    );
}
