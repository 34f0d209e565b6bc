import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerRuntimeAvailable, findBinary, freePort, type Service, startLocal } from './process.js';

/**
 * PostgreSQL (and PgBouncer in front of it) for the PostgreSQL backend's tests, in SPEC's order: an URL
 * from the environment (`RUNONCE_TEST_POSTGRES_URL`, `RUNONCE_TEST_PGBOUNCER_URL`); else a container
 * when a runtime answers (PostgreSQL only); else the local binaries from apt (`postgresql`,
 * `pgbouncer`) on free ports of 127.0.0.1, each in a directory of its own that is removed on stop.
 * `initdb`, `postgres` and `pgbouncer` refuse to run as root: as root they run as the `postgres` user.
 */

const INSTALL_HINT =
  'No PostgreSQL for the tests. Either set RUNONCE_TEST_POSTGRES_URL=postgres://user@host:port/db, start a ' +
  'container runtime (Docker or Podman) for testcontainers, or install the server locally: ' +
  '`bash scripts/test-services.sh` (on Debian/Ubuntu it runs `apt-get install -y postgresql pgbouncer`).';

const PGBOUNCER_HINT =
  'No PgBouncer for the tests. Either set RUNONCE_TEST_PGBOUNCER_URL=postgres://user@host:port/db (a PgBouncer ' +
  'in pool_mode=transaction), or install it: `bash scripts/test-services.sh` (apt-get install -y pgbouncer).';

const POSTGRES_IMAGE = process.env.RUNONCE_TEST_POSTGRES_IMAGE ?? 'postgres:17-alpine';

/** A PostgreSQL server for a test run. `version` is what the server said (`SHOW server_version`) where known. */
export async function providePostgres(): Promise<Service & { readonly version?: string }> {
  const fromEnv = process.env.RUNONCE_TEST_POSTGRES_URL;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };
  if (!findPostgresBinaries() && (await containerRuntimeAvailable())) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const started = await new GenericContainer(POSTGRES_IMAGE)
      .withExposedPorts(5432)
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
      .start();
    return {
      url: `postgres://postgres@${started.getHost()}:${started.getMappedPort(5432)}/postgres`,
      source: 'container',
      stop: async () => {
        await started.stop();
      },
    };
  }
  const local = await LocalPostgres.start();
  return { url: local.url, source: 'local', version: local.version, stop: () => local.stop() };
}

/** A PgBouncer in transaction pooling mode in front of `postgresUrl` (a local or given server). */
export async function providePgBouncer(postgresUrl: string): Promise<Service> {
  const fromEnv = process.env.RUNONCE_TEST_PGBOUNCER_URL;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };
  const bouncer = await LocalPgBouncer.start(postgresUrl);
  return { url: bouncer.url, source: 'local', stop: () => bouncer.stop() };
}

/** `initdb` and `postgres` of the newest PostgreSQL installed the Debian way, or on PATH. */
export function findPostgresBinaries(): { initdb: string; postgres: string } | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const dirs = versions.map((v) => join(root, v, 'bin'));
  const initdb = findBinary('initdb', dirs);
  const postgres = initdb ? join(initdb, '..', 'postgres') : undefined;
  return initdb && postgres && existsSync(postgres) ? { initdb, postgres } : undefined;
}

/** As root, who the servers run as: the `postgres` user the Debian package creates. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as (initdb refuses root)');
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** A directory of its own, owned by the server's user. */
function serverDir(prefix: string, user: { uid: number; gid: number } | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

const SERVER_ENV = { PATH: '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };

/**
 * A PostgreSQL server in a fresh data directory on a free port: trust authentication on 127.0.0.1 only,
 * no fsync (test data), room for the fault suite's 200 contenders. Stop removes everything.
 */
export class LocalPostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly version: string,
    readonly stop: () => Promise<void>,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<LocalPostgres> {
    const bin = findPostgresBinaries();
    if (!bin) throw new Error(INSTALL_HINT);
    const user = serverUser();
    const dir = serverDir('runonce-pg-', user);
    const data = join(dir, 'data');
    execFileSync(
      bin.initdb,
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { ...user, env: SERVER_ENV, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const version = /\d+\.\d+/.exec(execFileSync(bin.postgres, ['--version'], { encoding: 'utf8' }))?.[0] ?? '';
    const port = await freePort();
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: dir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '500',
      shared_buffers: '32MB',
    };
    const args = ['-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    let started: { stop: () => Promise<void> };
    try {
      started = await startLocal(bin.postgres, args, port, 30_000, { ...user, env: SERVER_ENV, cwd: dir });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new LocalPostgres(port, dir, version, async () => {
      await started.stop();
      rmSync(dir, { recursive: true, force: true });
    });
  }
}

/** PgBouncer in `pool_mode = transaction` with a small pool, so clients really share server connections. */
export class LocalPgBouncer {
  private constructor(
    readonly port: number,
    readonly stop: () => Promise<void>,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(postgresUrl: string, poolSize = 10): Promise<LocalPgBouncer> {
    const binary = findBinary('pgbouncer', ['/usr/sbin', '/usr/bin']);
    if (!binary) throw new Error(PGBOUNCER_HINT);
    const target = new URL(postgresUrl);
    const user = serverUser();
    const dir = serverDir('runonce-pgbouncer-', user);
    const port = await freePort();
    const login = decodeURIComponent(target.username || 'postgres');
    writeFileSync(join(dir, 'userlist.txt'), `"${login}" ""\n`);
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${target.hostname} port=${target.port || 5432}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'userlist.txt')}`,
        'pool_mode = transaction',
        `default_pool_size = ${poolSize}`,
        'max_client_conn = 1000',
        'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
        '',
      ].join('\n'),
    );
    if (user) for (const f of ['userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), user.uid, user.gid);
    let started: { stop: () => Promise<void> };
    try {
      started = await startLocal(binary, [join(dir, 'pgbouncer.ini')], port, 20_000, {
        ...user,
        env: SERVER_ENV,
        cwd: dir,
      });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new LocalPgBouncer(port, async () => {
      await started.stop();
      rmSync(dir, { recursive: true, force: true });
    });
  }
}
