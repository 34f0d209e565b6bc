/** Child processes, timed on this process's monotonic clock. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

export interface Finished {
  /** performance.now() when spawned and when it exited. */
  readonly startedAt: number;
  readonly exitedAt: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Started {
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly done: Promise<Finished>;
  /** Resolves at the first stderr chunk that matches. */
  stderrMatch(re: RegExp): Promise<void>;
}

export function start(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Started {
  const startedAt = performance.now();
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of [...watchers]) {
      if (w.re.test(stderr)) {
        w.resolve();
        watchers.splice(watchers.indexOf(w), 1);
      }
    }
  });
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const exitedAt = performance.now();
      // let the pipes drain before handing the output over
      child.on('close', () => resolve({ startedAt, exitedAt, code, signal, stdout, stderr }));
    });
  });
  return {
    child,
    startedAt,
    done,
    stderrMatch: (re) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(stderr)) return resolve();
        watchers.push({ re, resolve });
        done.then(() => reject(new Error(`exited before printing ${re}: ${stderr.slice(-400)}`)), reject);
      }),
  };
}

/** Run to completion; throws with the output when the exit code is not 0. */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): string {
  const r = spawnSync(command, args, { env, cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** Milliseconds of one run, start to exit; throws when it fails. */
export function timeRun(command: string, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return ms;
}
