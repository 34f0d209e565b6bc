/**
 * The skip path's cost: `runonce exec` on a task already done, on the file
 * backend (the npm CLI and the standalone executable) and on SSM (moto),
 * against a bare `node -e 0` and one
 * `aws ssm get-parameter` (what the hand-written hook spends to learn the same
 * thing). Interleaved, one of each per turn, so machine noise hits all alike.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, timeRun } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';

export interface SkipOptions {
  ssmUrl: string;
  aws: string | undefined;
  cli: string;
  /** The standalone executable (`pnpm release:pack`), when there is one. */
  standalone: string | undefined;
  runs: number;
}

export type SkipVariant = 'node' | 'fileSkip' | 'seaSkip' | 'ssmSkip' | 'awsGet' | 'fileRun';

export const SKIP_LABELS: Record<SkipVariant, string> = {
  node: 'node -e 0',
  fileSkip: 'runonce exec, skip (file)',
  seaSkip: 'standalone runonce-linux exec, skip (file)',
  ssmSkip: 'runonce exec, skip (SSM)',
  awsGet: 'aws ssm get-parameter',
  fileRun: 'runonce exec, claim and run `true` (file)',
};

export interface SkipResult {
  runs: number;
  /** The standalone executable's size in bytes, when it was measured. */
  standaloneBytes?: number;
  samples: Partial<Record<SkipVariant, number[]>>;
  median: Partial<Record<SkipVariant, number>>;
}

export function skipCost(o: SkipOptions): SkipResult {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-skip-'));
  const namespace = `skip-${process.pid}-${Date.now().toString(36)}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SSM: o.ssmUrl,
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    RUNONCE_FILE_DIR: dir,
    RUNONCE_SSM_PREFIX: '/runonce-bench',
    RUNONCE_NAMESPACE: namespace,
    NO_COLOR: '1',
  };
  const param = `/bench/${namespace}/flag`;
  const commands: [SkipVariant, string, string[]][] = [
    ['node', process.execPath, ['-e', '0']],
    ['fileSkip', process.execPath, [o.cli, 'exec', 'probe', '--backend', 'file', '--', 'true']],
    ['ssmSkip', process.execPath, [o.cli, 'exec', 'probe', '--backend', 'ssm', '--', 'true']],
  ];
  // The same task and state directory as fileSkip: the standalone executable skips what the npm CLI ran.
  if (o.standalone)
    commands.splice(2, 0, ['seaSkip', o.standalone, ['exec', 'probe', '--backend', 'file', '--', 'true']]);
  if (o.aws) {
    commands.push(['awsGet', o.aws, ['ssm', 'get-parameter', '--endpoint-url', o.ssmUrl, '--name', param]]);
    run(
      o.aws,
      ['ssm', 'put-parameter', '--endpoint-url', o.ssmUrl, '--name', param, '--value', '1', '--type', 'String'],
      env,
    );
  }
  try {
    // the first exec of each backend runs the task; from then on every exec is the skip path
    for (const [, cmd, args] of commands) timeRun(cmd, args, env);
    // warm the compile cache and the page cache
    for (let i = 0; i < 2; i++) for (const [, cmd, args] of commands) timeRun(cmd, args, env);
    const samples: Partial<Record<SkipVariant, number[]>> = {};
    for (const [variant] of commands) samples[variant] = [];
    // The run path beside it: a new task each time, so each claims, starts the command's keeper (a
    // second process) and the command, and records done. Not the skip path, but what the keeper costs.
    const runOf = (i: number): string[] => [o.cli, 'exec', `run-${i}`, '--backend', 'file', '--', 'true'];
    samples.fileRun = [];
    timeRun(process.execPath, runOf(-1), env);
    for (let i = 0; i < o.runs; i++) {
      for (const [variant, cmd, args] of commands) samples[variant]?.push(timeRun(cmd, args, env));
      samples.fileRun.push(timeRun(process.execPath, runOf(i), env));
    }
    const med: Partial<Record<SkipVariant, number>> = {};
    for (const [variant, xs] of Object.entries(samples)) med[variant as SkipVariant] = median(xs);
    return {
      runs: o.runs,
      samples,
      median: med,
      ...(o.standalone ? { standaloneBytes: statSync(o.standalone).size } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
