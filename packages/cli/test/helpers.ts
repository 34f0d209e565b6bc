import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const BIN = fileURLToPath(new URL('../bin/runonce.js', import.meta.url));

/** A region and dummy credentials: what the SDK needs to sign requests to an emulator. */
export const AWS_TEST_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
} as const;

export interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly done: Promise<Run>;
  stderr(): string;
}

/** Start `runonce <args>` as a real process (the built binary, this Node). */
export function start(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Spawned {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => {
    stdout += c;
  });
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { child, done, stderr: () => stderr };
}

export function runonce(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Run> {
  return start(args, env, cwd).done;
}

/** Poll until `check` holds (never sleep for a fixed time where a condition can be watched). */
export async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** A fresh state directory, namespace and scratch directory per test, removed afterwards. */
export function sandbox(): { dir: string; work: string; env: NodeJS.ProcessEnv; marker: string } {
  const root = mkdtempSync(join(tmpdir(), 'runonce-cli-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const namespace = `t${Math.random().toString(36).slice(2, 10)}`;
  return {
    dir: join(root, 'state'),
    work: root,
    marker: join(root, 'marker'),
    env: { RUNONCE_FILE_DIR: join(root, 'state'), RUNONCE_NAMESPACE: namespace, RUNONCE_BACKEND: 'file' },
  };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Kill a process group if it still exists (a child orphaned by a SIGKILLed runner). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
