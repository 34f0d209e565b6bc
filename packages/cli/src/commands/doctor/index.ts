import { hostname } from 'node:os';
import { type RecordKey, RunOnceError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode, exitCodeFor } from '../../exit.js';
import { type Io, processIo } from '../../io.js';

export interface DoctorInput {
  readonly config: CliConfig;
}

/**
 * `runonce doctor`: every primitive once on a scratch record under
 * `<namespace>/_doctor/` (no task can be named `_doctor`), then the
 * permissions the backend needs. Exit 0 when all passed, else the mapped
 * code of the first failure (69 for unreachable or denied).
 */
export async function doctor(input: DoctorInput, io: Io = processIo()): Promise<number> {
  const { config } = input;
  const out = (line: string) => io.stdout.write(`${line}\n`);
  out(`backend: ${config.backend} (${where(config)}), namespace ${config.namespace}`);
  if (config.configFile) out(`config file: ${config.configFile}`);
  let failure: unknown;
  let module: Record<string, unknown> = {};
  try {
    const t0 = performance.now();
    const engine = await openEngine(config);
    module = engine.module;
    out(`  ok  open backend (${Math.round(performance.now() - t0)} ms)`);
    try {
      failure = await roundTrip(engine.runonce.backend, config.namespace, out);
    } finally {
      await engine.close();
    }
  } catch (e) {
    failure = e;
    out(`  FAIL open backend: ${(e as Error).message}`);
  }
  out('');
  out(permissions(config, module));
  if (failure) {
    io.stderr.write(`runonce: doctor: ${(failure as Error).message}\n`);
    return exitCodeFor(failure);
  }
  out('all checks passed');
  return ExitCode.ok;
}

async function roundTrip(
  backend: import('@runonce/core').Backend,
  namespace: string,
  out: (line: string) => void,
): Promise<unknown> {
  const id = `${hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 60)}-${process.pid}-${Date.now().toString(36)}`;
  const key: RecordKey = [namespace, '_doctor', id];
  const value = { v: 1, doctor: true, at: new Date().toISOString() };
  let version = 0;
  const steps: Array<[string, () => Promise<void>]> = [
    ['read (empty record)', async () => expect((await backend.read(key)).length === 0, 'scratch record not empty')],
    [
      'create (claim)',
      async () => {
        const r = await backend.create(key, 1, value);
        expect(r.won, 'create of a fresh slot was reported lost');
        if (r.won) version = r.version;
      },
    ],
    [
      'create again (must lose)',
      async () => expect(!(await backend.create(key, 1, value)).won, 'second create also won'),
    ],
    [
      'read (sees the slot)',
      async () =>
        expect(
          (await backend.read(key)).some((s) => s.index === 1),
          'slot not visible',
        ),
    ],
    [
      'write (heartbeat)',
      async () => {
        const v = await backend.write(key, 1, { ...value, beat: 1 });
        expect(v > version, `version did not increase (${version} -> ${v})`);
      },
    ],
    [
      'list',
      async () => {
        const keys = await backend.list([namespace, '_doctor']);
        expect(
          keys.some((k) => k.join('/') === key.join('/')),
          'scratch record not listed',
        );
      },
    ],
    ['remove slot', () => backend.removeSlot(key, 1)],
    ['remove record', () => backend.remove(key)],
  ];
  for (const [name, step] of steps) {
    const t0 = performance.now();
    try {
      await step();
      out(`  ok  ${name} (${Math.round(performance.now() - t0)} ms)`);
    } catch (e) {
      out(`  FAIL ${name}: ${(e as Error).message}`);
      await backend.remove(key).catch(() => {});
      return e;
    }
  }
  return undefined;
}

function expect(ok: boolean, message: string): void {
  if (!ok) throw new RunOnceError('E_CORRUPT_STATE', `backend misbehaves: ${message}`);
}

function where(c: CliConfig): string {
  switch (c.backend) {
    case 'file':
      return `dir ${c.dir}`;
    case 'ssm':
      return `prefix ${c.ssmPrefix}`;
    case 'dynamodb':
      return `table ${c.table}`;
    case 'redis':
      return `url ${c.redisUrl.replace(/\/\/[^@/]*@/, '//***@')}`;
    default:
      return 'third-party package';
  }
}

/** What the chosen backend needs, as a policy to paste. */
export function permissions(c: CliConfig, module: Record<string, unknown>): string {
  const call = (name: string, arg: unknown) =>
    typeof module[name] === 'function' ? (module[name] as (a: unknown) => unknown)(arg) : undefined;
  switch (c.backend) {
    case 'file':
      return `permissions: the user running runonce needs read/write on ${c.dir} (created 0700; files 0600). Share it between users with a group-owned directory.`;
    case 'dynamodb': {
      const policy = call('dynamoDbIamPolicy', { table: c.table });
      return `IAM policy for the DynamoDB backend (RunonceInit only for the role that runs \`runonce init\`):\n${JSON.stringify(policy, null, 2)}`;
    }
    case 'ssm': {
      const policy = call('iamPolicy', c.ssmPrefix) ?? ssmPolicy(c.ssmPrefix);
      return `IAM policy for the SSM backend:\n${JSON.stringify(policy, null, 2)}`;
    }
    case 'redis': {
      const acl = call('redisAcl', {});
      return `Redis ACL rule for a dedicated user (Redis >= 6):\n${acl}`;
    }
    default: {
      const text = call('describePermissions', c);
      return text === undefined
        ? `permissions: ${c.backend} does not describe its permissions (export describePermissions, see docs/backends/custom.md)`
        : `permissions for ${c.backend}:\n${typeof text === 'string' ? text : JSON.stringify(text, null, 2)}`;
    }
  }
}

/** SPEC.md's SSM permissions, used until the backend package exports its own. */
function ssmPolicy(prefix: string) {
  const p = prefix.replace(/\/+$/, '');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Runonce',
        Effect: 'Allow',
        Action: [
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:GetParametersByPath',
          'ssm:GetParameterHistory',
          'ssm:PutParameter',
          'ssm:DeleteParameter',
          'ssm:DeleteParameters',
        ],
        Resource: [`arn:aws:ssm:*:*:parameter${p}`, `arn:aws:ssm:*:*:parameter${p}/*`],
      },
    ],
  };
}
