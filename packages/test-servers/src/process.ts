import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { delimiter, join } from 'node:path';

/** A service some test run can use, and how it was obtained. */
export interface Service {
  /** The endpoint URL, e.g. `http://127.0.0.1:40123` or `redis://127.0.0.1:40124`. */
  readonly url: string;
  /** Where it came from: the environment, a container, or a local binary. */
  readonly source: 'env' | 'container' | 'local';
  /** What served it, for the run's log (`localstack 2026.3.0 (host process)`), where known. */
  readonly label?: string;
  stop(): Promise<void>;
}

/** A port the kernel says is free now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = new Socket();
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
      sock.connect(port, '127.0.0.1');
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** First executable named `name` on PATH or in the extra directories, or undefined. */
export function findBinary(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Start a server binary, wait for its port, and return a stop function that kills it. */
export async function startLocal(
  command: string,
  args: readonly string[],
  port: number,
  timeoutMs = 60_000,
  options: Pick<SpawnOptions, 'uid' | 'gid' | 'env' | 'cwd'> = {},
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, timeoutMs, child);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${command} ${args.join(' ')} did not start: ${(e as Error).message}\n${stderr}`);
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  return { child, stop };
}

/**
 * Whether a container runtime answers. testcontainers is imported only here,
 * so runs without one never load it; without a daemon it gives up in about
 * half a second, and the race below bounds a runtime that hangs.
 */
export async function containerRuntimeAvailable(timeoutMs = 5_000): Promise<boolean> {
  if (process.env.RUNONCE_TEST_NO_CONTAINERS) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('container runtime detection timed out')), timeoutMs);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
