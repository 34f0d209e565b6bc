import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerRuntimeAvailable, findBinary, freePort, type Service, startLocal } from './process.js';

/**
 * AWS-shaped servers for the SSM and DynamoDB backends' tests, in the order
 * SPEC.md gives: an endpoint from the environment; else LocalStack through
 * testcontainers when a container runtime answers; else a local `moto_server`
 * on a free port (moto serves SSM and DynamoDB on one port). When none is
 * available the run fails with the message below: a backend's tests are
 * never silently skipped.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The last LocalStack image that starts without an auth token. */
export const LOCALSTACK_IMAGE = process.env.RUNONCE_TEST_LOCALSTACK_IMAGE ?? 'localstack/localstack:4.14';

const SERVICE_OF: Record<string, string> = {
  RUNONCE_TEST_SSM_ENDPOINT: 'SSM',
  RUNONCE_TEST_DYNAMODB_ENDPOINT: 'DynamoDB',
  RUNONCE_TEST_S3_ENDPOINT: 'S3',
};
const installHint = (envVar: string) =>
  `No ${SERVICE_OF[envVar]} endpoint for the tests. Either:\n` +
  `  - run \`bash scripts/test-services.sh\` (installs moto_server into <repo>/.venv-moto), or\n` +
  `  - set ${envVar}=http://host:port (any SSM/DynamoDB-compatible endpoint, e.g. LocalStack or moto), or\n` +
  `  - start a container runtime (Docker or Podman) so testcontainers can run ${LOCALSTACK_IMAGE}.\n` +
  `moto_server was looked for in $RUNONCE_MOTO_DIR/bin, ${join(REPO_ROOT, '.venv-moto/bin')} and on PATH.`;

/** Which emulator serves a service when the tests start one: `RUNONCE_TEST_<SERVICE>_SERVER`, else moto. */
export type AwsTestServer = 'moto' | 'localstack';

function serverChoice(envVar: string, given: AwsTestServer | undefined): AwsTestServer | undefined {
  const chosen = given ?? process.env[envVar];
  if (chosen === undefined || chosen === '') return undefined;
  if (chosen !== 'moto' && chosen !== 'localstack')
    throw new Error(`${envVar} must be moto or localstack, got ${chosen}`);
  return chosen;
}

/**
 * An SSM endpoint for a test run (see the module comment for the order). `server` (or
 * `RUNONCE_TEST_SSM_SERVER`) picks the local emulator: `localstack` starts LocalStack as a host process.
 */
export function provideSsm(server?: AwsTestServer): Promise<Service> {
  if (serverChoice('RUNONCE_TEST_SSM_SERVER', server) === 'localstack') return startLocalStack();
  return provideAws('RUNONCE_TEST_SSM_ENDPOINT');
}

/**
 * A DynamoDB endpoint served by LocalStack or moto (dynalite lives in dynalite.ts).
 * The local moto serves one request at a time: DynamoDB documents conditional
 * writes as atomic, and threaded moto is not (two concurrent conditional
 * PutItems can both succeed), so a threaded moto would test moto, not us. SSM
 * keeps the threaded server: AWS does not document that create as atomic, and
 * the SSM backend must pick one winner even when two creates both succeed.
 */
export function provideMotoDynamoDb(): Promise<Service> {
  return provideAws('RUNONCE_TEST_DYNAMODB_ENDPOINT', { serial: true });
}

/**
 * An S3 endpoint: `RUNONCE_TEST_S3_ENDPOINT`, else LocalStack in a container, else moto serving one
 * request at a time. S3 documents conditional writes as atomic; threaded moto checks and writes without
 * a lock, so a threaded moto would test moto, not us (as for DynamoDB). Requests must be path-style.
 */
export function provideS3(server?: AwsTestServer): Promise<Service> {
  // LocalStack's S3 is its own implementation (not moto): concurrent conditional creates have one winner.
  if (serverChoice('RUNONCE_TEST_S3_SERVER', server) === 'localstack') return startLocalStack();
  return provideAws('RUNONCE_TEST_S3_ENDPOINT', { serial: true });
}

/** The pinned LocalStack that runs without Docker (SPEC: "How tests reach real servers"). */
export const LOCALSTACK_VERSION = '2026.3.0';

export function findLocalStackPython(): string | undefined {
  const dirs = [process.env.RUNONCE_LOCALSTACK_DIR, join(REPO_ROOT, '.venv-localstack')].filter(Boolean) as string[];
  for (const d of dirs) if (existsSync(join(d, 'bin/python'))) return join(d, 'bin/python');
  return undefined;
}

/**
 * LocalStack as a host process serving SSM and S3 on a free port of 127.0.0.1, with a filesystem root
 * of its own (the machine looks like a container to it: without OVERRIDE_IN_DOCKER=0 and its own root
 * it would write to system directories and clear its temp directory on exit). Ready once its health
 * endpoint reports both services; stop kills it and removes its root.
 */
export async function startLocalStack(): Promise<Service & { readonly version: string }> {
  const python = findLocalStackPython();
  if (!python)
    throw new Error(
      `No LocalStack for the tests: \`bash scripts/test-services.sh\` installs localstack-core ${LOCALSTACK_VERSION} into ` +
        `${join(REPO_ROOT, '.venv-localstack')} (it needs Python >= 3.12: pyenv's, or python3.12 on PATH), ` +
        'or set RUNONCE_LOCALSTACK_DIR to a virtualenv that has it.',
    );
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), 'runonce-localstack-'));
  const env = {
    PATH: process.env.PATH,
    HOME: root,
    GATEWAY_SERVER: 'hypercorn', // the default server ignores the host in GATEWAY_LISTEN and binds 0.0.0.0
    GATEWAY_LISTEN: `127.0.0.1:${port}`,
    OVERRIDE_IN_DOCKER: '0',
    FILESYSTEM_ROOT: root,
    DNS_ADDRESS: '0',
    SERVICES: 'ssm,s3',
    EAGER_SERVICE_LOADING: '1',
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
  };
  let started: { stop: () => Promise<void> };
  try {
    started = await startLocal(python, ['-m', 'localstack.runtime.main'], port, 120_000, { env, cwd: root });
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await started.stop();
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/_localstack/health`);
      const health = (await r.json()) as { version?: string; services?: Record<string, string> };
      const ready = ['ssm', 's3'].every((name) => ['available', 'running'].includes(health.services?.[name] ?? ''));
      if (ready) {
        const version = health.version ?? LOCALSTACK_VERSION;
        return { url, source: 'local', label: `localstack ${version} (host process)`, version, stop };
      }
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`LocalStack on ${url} did not report ssm and s3 ready within 120 s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function provideAws(
  envVar: 'RUNONCE_TEST_SSM_ENDPOINT' | 'RUNONCE_TEST_DYNAMODB_ENDPOINT' | 'RUNONCE_TEST_S3_ENDPOINT',
  options: { serial?: boolean } = {},
): Promise<Service> {
  const fromEnv = process.env[envVar];
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };

  const container = await tryLocalStack();
  if (container) return container;

  if (findMotoServer()) {
    const moto = await startMoto(options);
    return { url: moto.url, source: 'local', label: moto.label, stop: moto.stop };
  }
  throw new Error(installHint(envVar));
}

/**
 * SDK client settings for tests against an emulator: the endpoint, region
 * `us-east-1` and dummy credentials (emulators accept any). Plain JSON, so a
 * child process can receive it too.
 */
export function awsTestClientConfig(endpoint: string): {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
}

export function findMotoServer(): string | undefined {
  const dirs: string[] = [];
  if (process.env.RUNONCE_MOTO_DIR) dirs.push(join(process.env.RUNONCE_MOTO_DIR, 'bin'));
  dirs.push(join(REPO_ROOT, '.venv-moto', 'bin'));
  return findBinary('moto_server', dirs);
}

/**
 * moto's own app, handling one request at a time: each request's body is read first, outside the
 * lock, then moto runs it under one lock. (A server with `threaded=False` would do the same, but one
 * client that stalls half-way through sending a request, as the fault suite's proxy does, would then
 * block every other client.)
 */
const SERIAL_MOTO = [
  'import io, sys, threading',
  'from werkzeug.serving import run_simple',
  'from moto.server import DomainDispatcherApplication, create_backend_app',
  'app = DomainDispatcherApplication(create_backend_app)',
  'lock = threading.Lock()',
  'def serial(environ, start_response):',
  '    stream = environ["wsgi.input"]',
  '    n = int(environ.get("CONTENT_LENGTH") or 0)',
  '    body = stream.read() if environ.get("wsgi.input_terminated") else (stream.read(n) if n else b"")',
  '    environ["wsgi.input"] = io.BytesIO(body)',
  '    environ["CONTENT_LENGTH"] = str(len(body))',
  '    with lock:',
  '        return list(app(environ, start_response))',
  'run_simple(sys.argv[1], int(sys.argv[2]), serial, threaded=True)',
].join('\n');

/**
 * Start moto (in memory) on a free port of 127.0.0.1: `moto_server`, which
 * is threaded, or with `serial` the same app serving one request at a time.
 */
export async function startMoto(
  options: { serial?: boolean } = {},
): Promise<{ url: string; port: number; label: string; stop: () => Promise<void> }> {
  const binary = findMotoServer();
  if (!binary) throw new Error(installHint('RUNONCE_TEST_SSM_ENDPOINT'));
  const port = await freePort();
  const venvPython = join(dirname(binary), 'python');
  const [command, args] = options.serial
    ? [existsSync(venvPython) ? venvPython : 'python3', ['-c', SERIAL_MOTO, '127.0.0.1', String(port)]]
    : [binary, ['-H', '127.0.0.1', '-p', String(port)]];
  const { stop } = await startLocal(command, args, port, 60_000);
  const python = existsSync(venvPython) ? venvPython : 'python3';
  let version = '?';
  try {
    version = execFileSync(python, ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' }).trim();
  } catch {
    // the label only
  }
  const label = `moto ${version} (host process${options.serial ? ', one request at a time' : ''})`;
  return { url: `http://127.0.0.1:${port}`, port, label, stop };
}

async function tryLocalStack(): Promise<Service | undefined> {
  if (!(await containerRuntimeAvailable())) return undefined;
  const { GenericContainer, Wait } = await import('testcontainers');
  const started = await new GenericContainer(LOCALSTACK_IMAGE)
    .withExposedPorts(4566)
    .withEnvironment({ SERVICES: 'ssm,dynamodb,s3', EAGER_SERVICE_LOADING: '1' })
    .withWaitStrategy(Wait.forLogMessage(/Ready\./))
    .withStartupTimeout(120_000)
    .start();
  return {
    url: `http://${started.getHost()}:${started.getMappedPort(4566)}`,
    source: 'container',
    stop: async () => {
      await started.stop();
    },
  };
}

/**
 * Create a bucket on an S3 emulator (moto, LocalStack) with one unsigned path-style `PUT /<bucket>`:
 * emulators do not check signatures, and a test that only needs a bucket need not load the SDK.
 */
export async function createEmulatorBucket(endpoint: string, bucket: string): Promise<void> {
  const r = await fetch(`${endpoint.replace(/\/$/, '')}/${bucket}`, { method: 'PUT' });
  if (!r.ok && r.status !== 409)
    throw new Error(`creating bucket ${bucket} at ${endpoint}: HTTP ${r.status} ${await r.text()}`);
}
