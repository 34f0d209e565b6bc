import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const RELEASE = join(ROOT, 'dist/release');
export const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')).version;
/** The Node that runs the tests (24): its directory goes on PATH where a test wants a current Node. */
export const NODE_DIR = dirname(process.execPath);

/** The tarball `pnpm release:pack` wrote for a package (`@runonce/core` → runonce-core-<v>.tgz). */
export function tarball(name: string): string {
  const file = `${name.replace(/^@/, '').replace('/', '-')}-${VERSION}.tgz`;
  const path = join(RELEASE, file);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing (dist/release has ${readdirSync(RELEASE).join(', ')})`);
  }
  return path;
}

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program to its end; `env` is the whole environment (nothing inherited unless passed). */
export function run(
  cmd: string,
  args: readonly string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number },
): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 100_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A scratch directory removed after the file's tests. */
export function scratch(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `runonce-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The lines of a file, none if it does not exist. */
export function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** A fresh namespace, so tests sharing a server never see each other's records. */
export const namespace = (): string => `r${Math.random().toString(36).slice(2, 10)}`;

/**
 * The machine's own environment for tools that reach a registry (its proxy
 * and CA settings among it), less what pnpm, vitest and runonce put there for
 * this run: a user's shell has none of that.
 */
export function hostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|pnpm_|PNPM_|RUNONCE_|VITEST|NODE_OPTIONS$|TURBO_)/.test(k)) env[k] = v;
  }
  return env;
}

/** npm with the test's Node first on PATH, quiet, never asking. */
export function npm(args: readonly string[], cwd: string): Promise<Result> {
  return run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    env: { ...hostEnv(), PATH: `${NODE_DIR}:/usr/local/bin:/usr/bin:/bin`, npm_config_update_notifier: 'false' },
    timeoutMs: 280_000,
  });
}
