/**
 * `pnpm bench`: builds if needed, starts the servers, runs every part in one
 * run and prints one table of ratios; writes bench/results.md and
 * bench/results.svg.
 *
 *   node bench/run.ts [--rounds 5] [--task-seconds 1] [--instances 12]
 *                     [--spread-rounds 3] [--spread 3000] [--spread-task-seconds 3]
 *                     [--skip-runs 15] [--waiters 50] [--hold 12000] [--lock-seconds 2]
 *                     [--no-build] [--no-write]
 *   node bench/run.ts --render bench/.out/results.json   (re-render a run's report only)
 *
 * Parts (each says in its own file how it measures):
 *   parts/race.ts        hand-written SSM flag vs runonce exec, N instances racing
 *   parts/skip-cost.ts   the skip path (npm CLI and standalone executable) vs node -e 0 and one aws ssm get-parameter
 *   parts/calls.ts       backend calls per operation, every backend
 *   ssm-calls.ts         SSM API requests per operation (child process)
 *   redis-lock.ts        Redis lock throughput vs redis-semaphore and redlock (child process)
 *   parts/waiters.ts     winner's done → last waiter's exit, 50 waiter processes, woken by the store's
 *                        watch (file, Redis, PostgreSQL), against the same waiters polling only
 *   parts/read-rate.ts   200 waiters polling SSM, DynamoDB, S3: requests/s against each API's limit
 *
 * Servers: moto (SSM), dynalite (DynamoDB), redis-server, PostgreSQL, from
 * @runonce/test-servers (`bash scripts/test-services.sh` installs moto,
 * redis-server and PostgreSQL). The aws CLI is installed from apt when missing; without it
 * the parts that need it are reported missing and the rest still runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDbBackend } from '@runonce/backend-dynamodb';
import { RedisBackend } from '@runonce/backend-redis';
import { SsmBackend } from '@runonce/backend-ssm';
import { type Backend, FileBackend, MemoryBackend } from '@runonce/core';
import {
  awsTestClientConfig,
  provideDynalite,
  providePostgres,
  provideRedis,
  provideSsm,
  type Service,
} from '@runonce/test-servers';
import { findOrInstallAwsCli } from './lib/aws-cli.ts';
import { machine } from './lib/machine.ts';
import { markdownReport, svgReport, terminalReport } from './lib/report.ts';
import type { BenchResults } from './lib/results.ts';
import { measureCalls } from './parts/calls.ts';
import { race } from './parts/race.ts';
import { readRate } from './parts/read-rate.ts';
import { skipCost } from './parts/skip-cost.ts';
import { waiters } from './parts/waiters.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const CLI = join(ROOT, 'packages/cli/bin/runonce.js');

/** results.md (then formatted as `biome check` wants it, so lint stays clean) and results.svg. */
function writeReport(r: BenchResults): void {
  writeFileSync(join(HERE, 'results.md'), markdownReport(r));
  writeFileSync(join(HERE, 'results.svg'), svgReport(r));
  const biome = join(ROOT, 'node_modules/.bin/biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', join(HERE, 'results.md')], { cwd: ROOT });
}

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'spread-rounds': { type: 'string', default: '3' },
    spread: { type: 'string', default: '3000' },
    'spread-task-seconds': { type: 'string', default: '3' },
    instances: { type: 'string', default: '12' },
    'task-seconds': { type: 'string', default: '1' },
    'skip-runs': { type: 'string', default: '15' },
    waiters: { type: 'string', default: '50' },
    hold: { type: 'string', default: '12000' },
    'lock-seconds': { type: 'string', default: '2' },
    'no-build': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    /** Only render results.md and results.svg again from a run's bench/.out/results.json. */
    render: { type: 'string' },
  },
});

if (args.render) {
  const saved = JSON.parse(readFileSync(args.render, 'utf8')) as BenchResults;
  console.log(terminalReport(saved));
  writeReport(saved);
  process.exit(0);
}
const num = (name: keyof typeof args) => {
  const n = Number(args[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${args[name]}`);
  return n;
};

const t0 = performance.now();
const log = (line: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`);

// ---- build ------------------------------------------------------------------
const BUILT = [
  'packages/core/dist/index.js',
  'packages/backend-ssm/dist/index.js',
  'packages/backend-dynamodb/dist/index.js',
  'packages/backend-redis/dist/index.js',
  'packages/test-servers/dist/index.js',
  'packages/cli/dist/bundle',
];
if (!args['no-build']) {
  log('pnpm build (turbo: only what changed)');
  const b = spawnSync('pnpm', ['build'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) {
    const missing = BUILT.filter((p) => !existsSync(join(ROOT, p)));
    if (missing.length) {
      console.error(`${b.stdout}${b.stderr}\nbench: the build failed and ${missing.join(', ')} is missing`);
      process.exit(1);
    }
    log('build failed; measuring the dist/ already built (its output follows)');
    console.error(`${b.stdout}${b.stderr}`.split('\n').slice(-15).join('\n'));
  }
}

// ---- servers and tools -------------------------------------------------------
const results: BenchResults = {
  machine: machine(),
  setup: { ssm: '', dynamodb: '', redis: '', aws: '' },
  missing: {},
  calls: {},
  races: [],
};
const aws = findOrInstallAwsCli(log);
results.setup.aws = aws.ok ? `${aws.version} (${aws.path})` : `missing: ${aws.why}`;
if (!aws.ok)
  log(`WARNING: no aws CLI — the hand-written race and the get-parameter comparison are left out: ${aws.why}`);

log('starting servers: moto (SSM), dynalite (DynamoDB), redis-server, PostgreSQL');
const services: Service[] = [];
const [ssm, dynamo, redis, postgres] = await Promise.all([
  provideSsm(),
  provideDynalite(),
  provideRedis(),
  providePostgres(),
]).catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
services.push(ssm, dynamo, redis, postgres);
const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout?.match(/v=(\S+)/)?.[1];
const motoVersion = (() => {
  const bin = join(ROOT, '.venv-moto/bin/pip');
  const r = existsSync(bin) ? spawnSync(bin, ['show', 'moto'], { encoding: 'utf8' }) : undefined;
  return r?.stdout.match(/^Version: (.+)$/m)?.[1];
})();
// where from, not the port: a local binary on a free port, or the endpoint given in the environment
results.setup.ssm = ssm.source === 'local' ? `moto_server${motoVersion ? ` ${motoVersion}` : ''}, local` : ssm.source;
results.setup.dynamodb = dynamo.source === 'local' ? 'dynalite, local' : dynamo.source;
results.setup.redis =
  redis.source === 'local' ? `redis-server${redisVersion ? ` ${redisVersion}` : ''}, local` : redis.source;
results.setup.postgres =
  postgres.source === 'local' ? `PostgreSQL${postgres.version ? ` ${postgres.version}` : ''}, local` : postgres.source;

/**
 * The standalone executable, made by `pnpm release:pack` (without its build:
 * done above) when it is missing or older than the CLI's bundle; undefined,
 * with the reason in the report, when it cannot be made.
 */
function standaloneExecutable(): string | undefined {
  const exe = join(ROOT, `dist/release/runonce-linux-${arch()}`);
  const bundle = join(ROOT, 'packages/cli/dist/sea/runonce.cjs');
  if (!existsSync(exe) || (existsSync(bundle) && statSync(bundle).mtimeMs > statSync(exe).mtimeMs)) {
    log('pnpm release:pack --no-build (the standalone executable)');
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/release-pack.mjs'), '--no-build'], { encoding: 'utf8' });
    if (r.status !== 0) {
      results.missing['standalone executable'] = `release:pack failed: ${r.stderr.trim().split('\n').at(-1)}`;
      return undefined;
    }
  }
  return exe;
}

/** Run a bench script of this folder as a child, against our servers; returns its JSON output. */
function child(script: string, scriptArgs: string[], out: string): unknown {
  const r = spawnSync(process.execPath, [join(HERE, script), ...scriptArgs], {
    encoding: 'utf8',
    env: { ...process.env, RUNONCE_TEST_SSM_ENDPOINT: ssm.url, RUNONCE_TEST_REDIS_URL: redis.url },
  });
  const path = join(HERE, '.out', out);
  // ssm-calls exits 1 when a goal is missed, and still writes its table
  if (r.status !== 0 && r.status !== 1)
    throw new Error(`${script} exited ${r.status ?? r.signal}: ${r.stderr.slice(-600)}`);
  if (r.status === 1)
    log(
      `${script}: ${
        r.stdout
          .trim()
          .split('\n')
          .filter((l) => /MISSED/.test(l))
          .join('; ') || r.stderr.slice(-300)
      }`,
    );
  return JSON.parse(readFileSync(path, 'utf8'));
}

async function part(name: string, fn: () => Promise<void> | void): Promise<void> {
  const started = performance.now();
  log(`${name} …`);
  try {
    await fn();
    log(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    results.missing[name] = (e as Error).message.split('\n')[0] ?? String(e);
    log(`${name} FAILED: ${(e as Error).stack ?? e}`);
  }
}

try {
  await part('calls per operation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runonce-calls-'));
    const table = `bench-${Date.now().toString(36)}`;
    const dynamoBackend = new DynamoDbBackend({ ...awsTestClientConfig(dynamo.url), table });
    const makers: [string, () => Promise<Backend>][] = [
      ['memory', async () => new MemoryBackend()],
      ['file', async () => new FileBackend({ dir })],
      ['ssm', async () => new SsmBackend({ ...awsTestClientConfig(ssm.url), prefix: '/runonce-bench' })],
      [
        'dynamodb',
        async () => {
          await dynamoBackend.createTable();
          return dynamoBackend;
        },
      ],
      ['redis', async () => new RedisBackend({ url: redis.url, keyPrefix: `bench-${process.pid}` })],
    ];
    try {
      for (const [name, make] of makers) {
        let backend: Backend | undefined;
        try {
          backend = await make();
          results.calls[name] = await measureCalls(backend);
        } catch (e) {
          results.missing[`calls:${name}`] = (e as Error).message.split('\n')[0] ?? String(e);
          log(`calls on ${name} FAILED: ${(e as Error).stack}`);
        } finally {
          await backend?.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  await part('SSM API requests per operation', () => {
    results.ssmSdk = child('ssm-calls.ts', [], 'ssm-calls.json') as BenchResults['ssmSdk'];
  });

  await part('skip path', () => {
    results.skip = skipCost({
      ssmUrl: ssm.url,
      aws: aws.ok ? aws.path : undefined,
      cli: CLI,
      standalone: standaloneExecutable(),
      runs: num('skip-runs'),
    });
    if (!aws.ok) results.missing['skip path vs aws ssm get-parameter'] = aws.why;
  });

  if (aws.ok) {
    const raceOptions = {
      ssmUrl: ssm.url,
      aws: aws.path,
      cli: CLI,
      instances: num('instances'),
      taskSeconds: num('task-seconds'),
    };
    await part('hand-written race, started together', async () => {
      results.races.push(await race({ ...raceOptions, rounds: num('rounds'), spreadMs: 0 }, log));
    });
    await part('hand-written race, starts spread', async () => {
      results.races.push(
        await race(
          {
            ...raceOptions,
            rounds: num('spread-rounds'),
            spreadMs: num('spread'),
            taskSeconds: num('spread-task-seconds'),
          },
          log,
        ),
      );
    });
  } else {
    results.missing['hand-written race'] = aws.why;
  }

  await part('waiters', async () => {
    // the baseline first: the same file backend without its watch, so every waiter only polls
    results.waitersPollOnly = await waiters(
      { cli: CLI, waiters: num('waiters'), holdMs: num('hold'), pollOnly: true },
      log,
    );
    results.waiters = await waiters({ cli: CLI, waiters: num('waiters'), holdMs: num('hold') }, log);
    const onRedis = {
      cli: CLI,
      waiters: num('waiters'),
      holdMs: num('hold'),
      server: { kind: 'redis', url: redis.url },
    } as const;
    results.waitersRedisPollOnly = await waiters({ ...onRedis, pollOnly: true }, log);
    results.waitersRedis = await waiters(onRedis, log);
    const onPostgres = { ...onRedis, server: { kind: 'postgres', url: postgres.url } } as const;
    results.waitersPostgresPollOnly = await waiters({ ...onPostgres, pollOnly: true }, log);
    results.waitersPostgres = await waiters(onPostgres, log);
  });

  await part('read rate of 200 polling waiters', () => {
    results.readRate = readRate(200);
  });

  await part('Redis lock throughput', () => {
    results.lock = child(
      'redis-lock.ts',
      ['--seconds', String(num('lock-seconds')), '--contenders', '50'],
      'redis-lock.json',
    ) as BenchResults['lock'];
  });
} finally {
  await Promise.all(services.map((s) => s.stop().catch(() => {})));
}

results.durationMs = performance.now() - t0;
mkdirSync(join(HERE, '.out'), { recursive: true });
writeFileSync(join(HERE, '.out/results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\n${terminalReport(results)}`);
if (!args['no-write']) {
  writeReport(results);
  log('wrote bench/results.md and bench/results.svg');
}
process.exitCode = Object.keys(results.missing).length ? 1 : 0;
