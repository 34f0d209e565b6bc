import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Reporter } from './io.js';

export interface ChildOptions {
  readonly command: readonly string[];
  readonly shell: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  /** Tee stdout/stderr through runonce (for --log-file); else the child inherits them untouched. */
  readonly tee: boolean;
  /** Between SIGTERM and SIGKILL when the command must stop. */
  readonly graceMs: number;
}

export interface ChildExit {
  /** 0–255; 128+n when killed by signal n; 127/126 when it could not be started. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly error?: string;
}

/**
 * The command in its own process group (detached), so a signal reaches it
 * and everything it started: `kill(-pgid)`. Nothing is parsed or rewritten.
 */
export class Child {
  readonly #proc: ChildProcess;
  readonly #reaper: ChildProcess | undefined;
  readonly exited: Promise<ChildExit>;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(o: ChildOptions) {
    const [file, ...args] = o.shell ? ['/bin/sh', '-c', o.command.join(' ')] : o.command;
    this.#proc = spawn(file as string, args, {
      stdio: o.tee ? ['inherit', 'pipe', 'pipe'] : 'inherit',
      env: o.env,
      detached: true,
    });
    if (o.tee) {
      this.#proc.stdout?.on('data', (chunk: Buffer) => {
        process.stdout.write(chunk);
        o.reporter.logChunk(chunk);
      });
      this.#proc.stderr?.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        o.reporter.logChunk(chunk);
      });
    }
    this.#reaper = this.#proc.pid === undefined ? undefined : startReaper(this.#proc.pid, o.graceMs);
    this.exited = new Promise<ChildExit>((resolve) => {
      this.#proc.once('error', (e: NodeJS.ErrnoException) => {
        // spawn failed: no process. Shells use 127 (not found) and 126 (not executable).
        const code = e.code === 'ENOENT' ? 127 : 126;
        resolve({ code, signal: null, error: `cannot run ${JSON.stringify(file)}: ${e.message}` });
      });
      this.#proc.once('exit', (code, signal) => {
        const done = () => {
          if (this.#killTimer) clearTimeout(this.#killTimer);
          stopReaper(this.#reaper);
          if (signal) resolve({ code: 128 + (constants.signals[signal] ?? 0), signal });
          else resolve({ code: code ?? 1, signal: null });
        };
        // Let the pipes drain, but never wait on grandchildren that keep them open.
        if (!o.tee) return done();
        const timer = setTimeout(done, 500);
        this.#proc.once('close', () => {
          clearTimeout(timer);
          done();
        });
      });
    });
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Send a signal to the child's whole process group. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.#proc.pid;
    if (pid === undefined || this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.#proc.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM (or the given signal) to the group now, SIGKILL after the grace period if it is still there. */
  terminate(graceMs: number, first: NodeJS.Signals = 'SIGTERM'): void {
    this.signal(first);
    if (this.#killTimer) return;
    this.#killTimer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    this.#killTimer.unref();
  }
}

/**
 * The command lives in its own process group, so if runonce itself dies
 * (SIGKILL, the OOM killer) nothing would stop it, and the next instance
 * would take over after a lease while it still runs: two runs. The reaper is
 * a shell blocked reading a pipe only runonce holds; when runonce dies the
 * kernel closes the pipe, and the reaper stops the command's group (SIGTERM,
 * then SIGKILL after the grace period). In its own group, so that a signal to
 * runonce's group does not take it down too.
 */
function startReaper(pgid: number, graceMs: number): ChildProcess | undefined {
  try {
    const script = 'read _; kill -TERM -"$1" 2>/dev/null || exit 0; sleep "$2"; kill -KILL -"$1" 2>/dev/null';
    const reaper = spawn('/bin/sh', ['-c', script, 'runonce-reaper', String(pgid), String(Math.ceil(graceMs / 1000))], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    reaper.on('error', () => {});
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return reaper;
  } catch {
    return undefined;
  }
}

function stopReaper(reaper: ChildProcess | undefined): void {
  if (!reaper?.pid || reaper.exitCode !== null) return;
  try {
    process.kill(-reaper.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
