/**
 * The hand-written SSM flag (handwritten/hook.sh: get-parameter, if 0 then
 * put-parameter 1 and run) against `runonce exec --backend ssm`, N instances
 * started together per round, on the same moto. Before each round the
 * "pipeline" resets: put-parameter 0 for the hook, `runonce reset` for runonce
 * (neither is timed). Both run handwritten/task.sh, which appends a line per
 * run to a marker file. Rounds alternate which side goes first.
 *
 * `spreadMs` 0 starts every instance at once (the check-then-set race);
 * otherwise instance i starts at i × spreadMs / (N − 1), as a fleet whose
 * instances reach the hook over a few seconds (the instances that read 1 go
 * on at once, before the task has finished).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Finished, run, type Started, start } from '../lib/proc.ts';
import { sleep } from '../lib/stats.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const HOOK = join(HERE, '../handwritten/hook.sh');
const TASK = join(HERE, '../handwritten/task.sh');

export interface RaceOptions {
  ssmUrl: string;
  aws: string;
  cli: string;
  instances: number;
  rounds: number;
  taskSeconds: number;
  spreadMs: number;
}

export interface Round {
  /** Lines in the marker file: how many instances ran the task. */
  runs: number;
  /** First spawn to last exit, ms. */
  wallMs: number;
  /** Instances that exited 0 before the task had finished anywhere (went on with the old schema). */
  early: number;
  /** Exit codes other than 0. */
  failed: number;
}

export interface RaceResult {
  instances: number;
  taskSeconds: number;
  spreadMs: number;
  handwritten: Round[];
  runonce: Round[];
}

async function fleet(
  n: number,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  marker: string,
  spreadMs: number,
): Promise<Round> {
  writeFileSync(marker, '');
  const procs: Started[] = [];
  for (let i = 0; i < n; i++) {
    const due =
      i === 0 || spreadMs === 0 ? 0 : (i * spreadMs) / (n - 1) - (performance.now() - (procs[0]?.startedAt ?? 0));
    if (due > 0) await sleep(due);
    procs.push(start(command, args, env));
  }
  const exits: (Finished & { wall: number })[] = await Promise.all(
    procs.map((p) => p.done.then((f) => ({ ...f, wall: Date.now() }))),
  );
  const lines = readFileSync(marker, 'utf8').split('\n').filter(Boolean);
  const firstDone = Math.min(...lines.map((l) => Number(l.split(' ')[0])));
  return {
    runs: lines.length,
    wallMs: Math.max(...exits.map((e) => e.exitedAt)) - Math.min(...procs.map((p) => p.startedAt)),
    early: exits.filter((e) => e.code === 0 && !(e.wall >= firstDone)).length,
    failed: exits.filter((e) => e.code !== 0).length,
  };
}

export async function race(o: RaceOptions, log: (line: string) => void): Promise<RaceResult> {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-race-'));
  const marker = join(dir, 'marker');
  const namespace = `race-${process.pid}-${Date.now().toString(36)}`;
  const param = `/bench/${namespace}/db-migration`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(o.aws)}:${process.env.PATH}`,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SSM: o.ssmUrl,
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    PARAM: param,
    MARKER: marker,
    TASK_SECONDS: String(o.taskSeconds),
    RUNONCE_BACKEND: 'ssm',
    RUNONCE_SSM_PREFIX: '/runonce-bench',
    RUNONCE_NAMESPACE: namespace,
    NO_COLOR: '1',
  };
  const result: RaceResult = {
    instances: o.instances,
    taskSeconds: o.taskSeconds,
    spreadMs: o.spreadMs,
    handwritten: [],
    runonce: [],
  };
  const theirs = async () => {
    // the pipeline's reset step
    run(
      o.aws,
      [
        'ssm',
        'put-parameter',
        '--endpoint-url',
        o.ssmUrl,
        '--name',
        param,
        '--value',
        '0',
        '--type',
        'String',
        '--overwrite',
      ],
      env,
    );
    const r = await fleet(o.instances, 'bash', [HOOK], env, marker, o.spreadMs);
    result.handwritten.push(r);
    return r;
  };
  const ours = async () => {
    run(process.execPath, [o.cli, 'reset', 'db-migration'], env);
    const r = await fleet(
      o.instances,
      process.execPath,
      [o.cli, 'exec', 'db-migration', '--', 'bash', TASK],
      env,
      marker,
      o.spreadMs,
    );
    result.runonce.push(r);
    return r;
  };
  const show = (r: Round) =>
    `ran ${r.runs}×, ${(r.wallMs / 1000).toFixed(2)} s, ${r.early} went on early, ${r.failed} failed`;
  try {
    for (let i = 0; i < o.rounds; i++) {
      const [a, b] = i % 2 === 0 ? [theirs, ours] : [ours, theirs];
      const ra = await a();
      const rb = await b();
      const [h, u] = i % 2 === 0 ? [ra, rb] : [rb, ra];
      log(`  round ${i + 1}/${o.rounds}: hand-written ${show(h)} | runonce ${show(u)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
