import { createRequire } from 'node:module';
import { freePort, type Service, startLocal } from './process.js';

const INSTALL_HINT =
  'No DynamoDB endpoint for the tests. Set RUNONCE_TEST_DYNAMODB_ENDPOINT=http://host:port, or run ' +
  '`pnpm install` so that the dynalite package (a dependency of @runonce/test-servers) is present; ' +
  '`bash scripts/test-services.sh` installs the other local servers.';

/**
 * A DynamoDB-compatible endpoint for a test run: `RUNONCE_TEST_DYNAMODB_ENDPOINT`
 * when set, else dynalite from npm, started as a child process on a free port
 * (a child, not in-process, so a busy test worker cannot stall the server and
 * the server cannot stall the worker).
 *
 * LocalStack through testcontainers is not tried here: aws.ts owns the AWS
 * containers (see provideMotoDynamoDb there for the second emulator).
 */
export async function provideDynalite(): Promise<Service> {
  const fromEnv = process.env.RUNONCE_TEST_DYNAMODB_ENDPOINT;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };
  const local = await startDynalite();
  return { url: local.url, source: 'local', stop: local.stop };
}

/** Start dynalite (in memory, tables ACTIVE at once) on a free port. */
export async function startDynalite(): Promise<{ url: string; port: number; stop: () => Promise<void> }> {
  let cli: string;
  try {
    cli = createRequire(import.meta.url).resolve('dynalite/cli.js');
  } catch (e) {
    throw new Error(`${INSTALL_HINT} (${(e as Error).message})`);
  }
  const port = await freePort();
  const args = [cli, '--host', '127.0.0.1', '--port', String(port)];
  for (const flag of ['--createTableMs', '--deleteTableMs', '--updateTableMs']) args.push(flag, '0');
  const { stop } = await startLocal(process.execPath, args, port, 20_000);
  return { url: `http://127.0.0.1:${port}`, port, stop };
}
