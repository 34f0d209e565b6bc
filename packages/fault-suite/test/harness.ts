import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEmulatorBucket,
  LocalRedis,
  provideDynalite,
  providePgBouncer,
  providePostgres,
  provideRedisCluster,
  provideS3,
  provideSsm,
  type Service,
  startLocalStack,
} from '@runonce/test-servers';
import { afterEach } from 'vitest';
import { lines, type Run, runonce, type Spawned, start } from '../../cli/test/helpers.js';

export { killGroup, lines, runonce, start, until } from '../../cli/test/helpers.js';
export type { Run, Spawned };

/** Where each fault test appends its row; the global setup prints them as a table at the end. */
export const ROWS_FILE = process.env.RUNONCE_FAULT_ROWS ?? join(tmpdir(), 'runonce-fault-suite.jsonl');

export interface Row {
  readonly fault: string;
  readonly backend: string;
  /** Executions of the command that ran to completion. */
  readonly runs: number;
  /** Completions beyond the first that nobody announced (no takeover logged): want 0. */
  readonly duplicates: number;
  /** A completion not recorded `done` in the end: want 0. */
  readonly lostDone: number;
  /** Processes that had to be killed because they did not exit within their bound: want 0. */
  readonly hangs: number;
  /**
   * Commands found alive at the same moment as another attempt's (an `exclusive` command could not
   * take its lock): want 0. Absent where the test does not look.
   */
  readonly overlaps?: number;
  readonly ms: number;
}

export function record(row: Row): void {
  appendFileSync(ROWS_FILE, `${JSON.stringify(row)}\n`);
}

/**
 * The usual row: completions and unannounced ones from the marker's tally, a lost `done` when
 * something completed but the scope is not done, hangs among the processes waited for.
 */
export function recordRun(
  fault: string,
  backend: string,
  o: {
    t0: number;
    tally: { ends: number; duplicates: number };
    state: string;
    runs: readonly { hung: boolean }[];
    overlaps?: number;
  },
): void {
  record({
    fault,
    backend,
    runs: o.tally.ends,
    duplicates: o.tally.duplicates,
    lostDone: o.tally.ends > 0 && o.state !== 'done' ? 1 : 0,
    hangs: o.runs.filter((r) => r.hung).length,
    ...(o.overlaps !== undefined ? { overlaps: o.overlaps } : {}),
    ms: performance.now() - o.t0,
  });
}

/** `pgbouncer` is the PostgreSQL backend through PgBouncer in transaction pooling mode. */
/** `ssm-localstack` and `s3-localstack`: those backends on LocalStack as a host process instead of moto. */
export type BackendName =
  | 'file'
  | 'ssm'
  | 'ssm-localstack'
  | 'dynamodb'
  | 'redis'
  | 'redis-cluster'
  | 'postgres'
  | 'pgbouncer'
  | 's3'
  | 's3-localstack';
export const BACKENDS: readonly BackendName[] = [
  'file',
  'ssm',
  'dynamodb',
  'redis',
  'redis-cluster',
  'postgres',
  'pgbouncer',
  's3',
  'ssm-localstack',
  's3-localstack',
];

/** A running store for one backend and the environment that points the CLI at it. */
export interface Store {
  readonly name: BackendName;
  readonly url: string;
  /** The environment variable that carries the endpoint (to point a process through a proxy). */
  readonly endpointVar?: string;
  /** A fresh namespace (and, for file, directory) for one test. */
  env(): NodeJS.ProcessEnv;
  /** Present for Redis: stop, restart (empty) and pause the server. */
  readonly redis?: LocalRedis;
  stop(): Promise<void>;
}

const AWS = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
const ns = () => `f${Math.random().toString(36).slice(2, 10)}`;

export async function startStore(name: BackendName): Promise<Store> {
  if (name === 'file') {
    const root = mkdtempSync(join(tmpdir(), 'runonce-fault-'));
    return {
      name,
      url: root,
      env: () => ({ RUNONCE_BACKEND: 'file', RUNONCE_FILE_DIR: join(root, 'state'), RUNONCE_NAMESPACE: ns() }),
      stop: async () => rmSync(root, { recursive: true, force: true }),
    };
  }
  if (name === 'redis') {
    const redis = await LocalRedis.start();
    return {
      name,
      url: redis.url,
      endpointVar: 'RUNONCE_REDIS_URL',
      redis,
      env: () => ({ RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_URL: redis.url, RUNONCE_NAMESPACE: ns() }),
      stop: () => redis.stop(),
    };
  }
  if (name === 'postgres' || name === 'pgbouncer') {
    const postgres = await providePostgres();
    const bouncer = name === 'pgbouncer' ? await providePgBouncer(postgres.url) : undefined;
    const url = bouncer?.url ?? postgres.url;
    const base = { RUNONCE_BACKEND: 'postgres', RUNONCE_POSTGRES_URL: url };
    const init = await runonce(['init'], base);
    if (init.code !== 0) throw new Error(`runonce init on PostgreSQL failed: ${init.stderr}`);
    return {
      name,
      url,
      endpointVar: 'RUNONCE_POSTGRES_URL',
      env: () => ({ ...base, RUNONCE_NAMESPACE: ns() }),
      stop: async () => {
        await bouncer?.stop();
        await postgres.stop();
      },
    };
  }
  if (name === 'redis-cluster') {
    const cluster = await provideRedisCluster();
    return {
      name,
      url: cluster.spec,
      env: () => ({ RUNONCE_BACKEND: 'redis', RUNONCE_REDIS_CLUSTER: cluster.spec, RUNONCE_NAMESPACE: ns() }),
      stop: () => cluster.stop(),
    };
  }
  if (name === 's3' || name === 's3-localstack') {
    const s3 = name === 's3' ? await provideS3('moto') : await startLocalStack();
    const bucket = `runonce-faults-${Date.now().toString(36)}`;
    await createEmulatorBucket(s3.url, bucket);
    return {
      name,
      url: s3.url,
      endpointVar: 'AWS_ENDPOINT_URL_S3',
      env: () => {
        const n = ns();
        return {
          RUNONCE_BACKEND: 's3',
          RUNONCE_S3_BUCKET: bucket,
          RUNONCE_S3_PREFIX: `rf-${n}`,
          RUNONCE_NAMESPACE: n,
          AWS_ENDPOINT_URL_S3: s3.url,
          ...AWS,
        };
      },
      stop: () => s3.stop(),
    };
  }
  if (name === 'ssm' || name === 'ssm-localstack') {
    const ssm: Service = name === 'ssm' ? await provideSsm('moto') : await startLocalStack();
    return {
      name,
      url: ssm.url,
      endpointVar: 'AWS_ENDPOINT_URL_SSM',
      env: () => {
        const n = ns();
        return {
          RUNONCE_BACKEND: 'ssm',
          RUNONCE_SSM_PREFIX: `/rf-${n}`,
          RUNONCE_NAMESPACE: n,
          AWS_ENDPOINT_URL_SSM: ssm.url,
          ...AWS,
        };
      },
      stop: () => ssm.stop(),
    };
  }
  const dynamo: Service = await provideDynalite();
  const table = `runonce-faults-${Date.now().toString(36)}`;
  const base = {
    RUNONCE_BACKEND: 'dynamodb',
    RUNONCE_DYNAMODB_TABLE: table,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
    ...AWS,
  };
  const init = await runonce(['init'], base);
  if (init.code !== 0) throw new Error(`runonce init on dynalite failed: ${init.stderr}`);
  return {
    name,
    url: dynamo.url,
    endpointVar: 'AWS_ENDPOINT_URL_DYNAMODB',
    env: () => ({ ...base, RUNONCE_NAMESPACE: ns() }),
    stop: () => dynamo.stop(),
  };
}

/** A scratch directory per test for markers; removed afterwards. Every process started through `spawnExec` is killed afterwards. */
export function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-fault-work-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const live: Spawned[] = [];
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const s of live.splice(0)) {
    if (s.child.pid) {
      s.child.kill('SIGCONT');
      s.child.kill('SIGKILL');
    }
  }
  for (const c of cleanups.splice(0)) c();
});

/** `runonce <args>` as a real process, killed after the test if still alive. */
export function spawnExec(args: readonly string[], env: NodeJS.ProcessEnv): Spawned {
  const s = start(args, env);
  live.push(s);
  return s;
}

/** Wait for a process with a bound: a process that outlives it is SIGKILLed and counted as a hang. */
export async function bounded(s: Spawned, ms: number): Promise<Run & { hung: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hung'>((r) => {
    timer = setTimeout(() => r('hung'), ms);
  });
  const first = await Promise.race([s.done, timeout]);
  clearTimeout(timer);
  if (first !== 'hung') return { ...first, hung: false };
  s.child.kill('SIGCONT');
  s.child.kill('SIGKILL');
  return { ...(await s.done), hung: true };
}

/**
 * A command that logs `start <attempt>` and `end <attempt>` (with its pid) to a
 * marker file; attempt 1 sleeps `first` seconds, later attempts `later`.
 */
export function taskCommand(marker: string, first: number, later = 0.2): string {
  return (
    `echo "start $RUNONCE_ATTEMPT $$" >> ${marker}; ` +
    `if [ "$RUNONCE_ATTEMPT" = 1 ]; then sleep ${first}; else sleep ${later}; fi; ` +
    `echo "end $RUNONCE_ATTEMPT" >> ${marker}`
  );
}

/**
 * A command that holds an exclusive flock(2) on `lockFile` for as long as any
 * of its processes lives. If another attempt's command still holds it, this one
 * writes `overlap <attempt>` to the marker and exits 99 without running: the
 * kernel's own answer to "were two commands alive at the same moment?". `cmd`
 * must not contain single quotes.
 */
export function exclusive(marker: string, lockFile: string, cmd: string): string {
  if (cmd.includes("'")) throw new Error('exclusive(): the command must not contain single quotes');
  return (
    `flock -n -E 99 ${lockFile} sh -c '${cmd}'; rc=$?; ` +
    `if [ $rc = 99 ]; then echo "overlap $RUNONCE_ATTEMPT" >> ${marker}; fi; exit $rc`
  );
}

/** How many times an `exclusive` command found another attempt's still alive. */
export function overlaps(marker: string): number {
  return lines(marker).filter((l) => l.startsWith('overlap')).length;
}

export interface StatusJson {
  state: string;
  attempts: Array<{ attempt: number; state: string; exitCode?: number; owner?: string }>;
}

export async function status(task: string, env: NodeJS.ProcessEnv): Promise<StatusJson> {
  const r = await runonce(['status', task, '--json'], env);
  if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Completions, starts, and the count of those that were not announced as a takeover by the runner. */
export function tally(marker: string, announcedReruns = 0): { starts: number; ends: number; duplicates: number } {
  const l = lines(marker);
  const ends = l.filter((x) => x.startsWith('end')).length;
  return {
    starts: l.filter((x) => x.startsWith('start')).length,
    ends,
    duplicates: Math.max(0, ends - 1 - announcedReruns),
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
