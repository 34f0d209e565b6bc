import type { ChildProcess } from 'node:child_process';
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
