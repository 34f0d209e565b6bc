import { existsSync } from 'node:fs';
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

/** An SSM endpoint for a test run (see the module comment for the order). */
export function provideSsm(): Promise<Service> {
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
export function provideS3(): Promise<Service> {
  return provideAws('RUNONCE_TEST_S3_ENDPOINT', { serial: true });
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
    return { url: moto.url, source: 'local', stop: moto.stop };
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
): Promise<{ url: string; port: number; stop: () => Promise<void> }> {
  const binary = findMotoServer();
  if (!binary) throw new Error(installHint('RUNONCE_TEST_SSM_ENDPOINT'));
  const port = await freePort();
  const venvPython = join(dirname(binary), 'python');
  const [command, args] = options.serial
    ? [existsSync(venvPython) ? venvPython : 'python3', ['-c', SERIAL_MOTO, '127.0.0.1', String(port)]]
    : [binary, ['-H', '127.0.0.1', '-p', String(port)]];
  const { stop } = await startLocal(command, args, port, 60_000);
  return { url: `http://127.0.0.1:${port}`, port, stop };
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
