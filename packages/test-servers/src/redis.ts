import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerRuntimeAvailable, findBinary, freePort, type Service, startLocal } from './process.js';

const INSTALL_HINT =
  'No Redis server for the tests. Either set RUNONCE_TEST_REDIS_URL=redis://host:port, start a container runtime ' +
  '(Docker or Podman) for testcontainers, or install redis-server locally: `bash scripts/test-services.sh` ' +
  '(on Debian/Ubuntu it runs `apt-get install -y redis-server`).';

const REDIS_IMAGE = process.env.RUNONCE_TEST_REDIS_IMAGE ?? 'redis:7-alpine';

/**
 * A Redis server for a test run, in the order the spec gives: an URL from
 * `RUNONCE_TEST_REDIS_URL`; else a testcontainers Redis when a container
 * runtime answers; else a local `redis-server` on a free port. Throws a
 * message saying how to install one when none is available.
 */
export async function provideRedis(): Promise<Service> {
  const fromEnv = process.env.RUNONCE_TEST_REDIS_URL;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };

  const container = await tryRedisContainer();
  if (container) return container;

  if (findRedisServer()) {
    const local = await LocalRedis.start();
    return { url: local.url, source: 'local', stop: () => local.stop() };
  }
  throw new Error(INSTALL_HINT);
}

async function tryRedisContainer(): Promise<Service | undefined> {
  if (!(await containerRuntimeAvailable())) return undefined;
  const { GenericContainer, Wait } = await import('testcontainers');
  const started = await new GenericContainer(REDIS_IMAGE)
    .withExposedPorts(6379)
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  return {
    url: `redis://${started.getHost()}:${started.getMappedPort(6379)}`,
    source: 'container',
    stop: async () => {
      await started.stop();
    },
  };
}

export function findRedisServer(): string | undefined {
  return findBinary('redis-server', ['/usr/bin', '/usr/local/bin', '/usr/sbin']);
}

/**
 * A `redis-server` child process on a fixed port that a test can stop and
 * start again (the connection-loss and fault tests do), with no persistence.
 * Extra arguments (`--requirepass`, `--user …`) go to the server as given.
 */
export class LocalRedis {
  #child: ChildProcess | undefined;
  #stop: (() => Promise<void>) | undefined;

  private constructor(
    readonly port: number,
    readonly binary: string,
    readonly extraArgs: readonly string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  static async start(options: { port?: number; args?: readonly string[] } = {}): Promise<LocalRedis> {
    const binary = findRedisServer();
    if (!binary) throw new Error(INSTALL_HINT);
    const server = new LocalRedis(options.port ?? (await freePort()), binary, options.args ?? []);
    await server.restart();
    return server;
  }

  /** Start (again) on the same port; a no-op while it runs. */
  async restart(): Promise<void> {
    if (this.running) return;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      ...this.extraArgs,
    ];
    const { child, stop } = await startLocal(this.binary, args, this.port, 20_000);
    this.#child = child;
    this.#stop = stop;
  }

  /** Stop the server (SIGTERM, then SIGKILL); its data is gone. Idempotent. */
  async stop(): Promise<void> {
    await this.#stop?.();
    this.#child = undefined;
    this.#stop = undefined;
  }

  /** SIGSTOP/SIGCONT: the port stays open but nothing answers, like a hung server or a black-holed network. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }
}

/**
 * A Redis Cluster of three masters (no replicas) on loopback, as SPEC describes: three `redis-server
 * --cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`, ready once every node
 * reports `cluster_state:ok`. Stop removes their directory.
 */
export class LocalRedisCluster {
  private constructor(
    readonly nodes: readonly LocalRedis[],
    readonly dir: string,
  ) {}

  /** `host:port,host:port,…`, as `--redis-cluster` takes it. */
  get spec(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  static async start(): Promise<LocalRedisCluster> {
    const cli = findBinary('redis-cli', ['/usr/bin', '/usr/local/bin']);
    if (!cli || !findRedisServer()) throw new Error(INSTALL_HINT);
    const dir = mkdtempSync(join(tmpdir(), 'runonce-redis-cluster-'));
    const nodes: LocalRedis[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        nodes.push(
          await LocalRedis.start({
            port,
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir],
          }),
        );
      }
      const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
      execFileSync(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 30_000,
      });
      const deadline = Date.now() + 30_000;
      for (const n of nodes) {
        for (;;) {
          const info = execFileSync(cli, ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' });
          if (info.includes('cluster_state:ok')) break;
          if (Date.now() > deadline) throw new Error(`redis cluster node ${n.port} not ok: ${info}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return new LocalRedisCluster(nodes, dir);
    } catch (e) {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** `redis-cli -p <port> <args>` on one node, its reply as text. */
  cli(port: number, ...args: string[]): string {
    const cli = findBinary('redis-cli', ['/usr/bin', '/usr/local/bin']) as string;
    return execFileSync(cli, ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster for a test run: `RUNONCE_TEST_REDIS_CLUSTER` (host:port,…) or a local one. */
export async function provideRedisCluster(): Promise<{
  spec: string;
  source: 'env' | 'local';
  stop: () => Promise<void>;
}> {
  const fromEnv = process.env.RUNONCE_TEST_REDIS_CLUSTER;
  if (fromEnv) return { spec: fromEnv, source: 'env', stop: async () => {} };
  const local = await LocalRedisCluster.start();
  return { spec: local.spec, source: 'local', stop: () => local.stop() };
}
