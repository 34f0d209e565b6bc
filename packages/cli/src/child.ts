import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { systemClock } from '@runonce/core';
import { quiet, type Reporter } from './io.js';
import type { KeeperSpec } from './keeper.js';

declare const RUNONCE_SEA_BUILD: boolean | undefined;
const RUNONCE_SEA = typeof RUNONCE_SEA_BUILD === 'boolean' && RUNONCE_SEA_BUILD;
/** keeper.ts's KEEPER_ARG (not imported: that would load the keeper's module here). */
const KEEPER_ARG = '__supervise';

export interface ChildOptions {
  readonly command: readonly string[];
  readonly shell: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  /** Tee stdout/stderr through runonce (for --log-file); else the command inherits them untouched. */
  readonly tee: boolean;
  /** Between SIGTERM and SIGKILL when the command must stop. */
  readonly graceMs: number;
  /**
   * When the command must be gone unless a renewal moves it: the lease's stopBy, on core's system
   * clock, which is CLOCK_MONOTONIC in ms, as the keeper reads it too.
   */
  readonly stopBy: number;
  /** The keeper's switch fired: no renewal came in time. */
  readonly onFired?: (what: 'term' | 'kill') => void;
}

export interface ChildExit {
  /** 0–255; 128+n when killed by signal n; 127/126 when it could not be started. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly error?: string;
}

/**
 * The command, started and watched by its keeper (keeper.ts): a process
 * beside runonce that holds the command in its own process group and stops it
 * when runonce's renewals stop coming (a paused runonce), when runonce dies
 * (its end of the control socket closes), or when told. The keeper is started
 * first and starts the command itself, so at no instant is the command running
 * without something that will stop it. Nothing in the command is parsed or
 * rewritten.
 */
export class Child {
  readonly #keeper: ChildProcess;
  readonly #control: Socket | undefined;
  readonly #graceMs: number;
  #pid: number | undefined;
  #ended = false;
  readonly exited: Promise<ChildExit>;

  constructor(o: ChildOptions) {
    const [file, ...args] = o.shell ? ['/bin/sh', '-c', o.command.join(' ')] : o.command;
    this.#graceMs = o.graceMs;
    const spec: KeeperSpec = { file: file as string, args, graceMs: o.graceMs, killAt: o.stopBy };
    const [exe, ...pre] = keeperCommand();
    const out = o.tee ? 'pipe' : 'inherit';
    this.#keeper = spawn(exe as string, [...pre, KEEPER_ARG, JSON.stringify(spec)], {
      stdio: ['inherit', out, out, 'pipe'],
      env: o.env,
      // Its own session: a signal to runonce's process group (a hook's timeout) does not reach it.
      detached: true,
    });
    this.#control = this.#keeper.stdio[3] as Socket | undefined;
    if (o.tee) {
      // Once ours is closed, the command's output still reaches the log file.
      const stdout = quiet(process.stdout);
      const stderr = quiet(process.stderr);
      this.#keeper.stdout?.on('data', (chunk: Buffer) => {
        stdout.write(chunk);
        o.reporter.logChunk(chunk);
      });
      this.#keeper.stderr?.on('data', (chunk: Buffer) => {
        stderr.write(chunk);
        o.reporter.logChunk(chunk);
      });
    }
    this.exited = new Promise<ChildExit>((resolve) => {
      let result: ChildExit | undefined;
      const done = () => {
        if (this.#ended) return;
        this.#ended = true;
        // The keeper went without a word (killed itself): its command must not outlive it.
        if (!result && this.#pid !== undefined) signalGroup(this.#pid, 'SIGKILL');
        resolve(result ?? { code: 126, signal: null, error: "runonce's keeper of the command ended unexpectedly" });
      };
      this.#keeper.once('error', (e: NodeJS.ErrnoException) => {
        result = { code: 126, signal: null, error: `cannot start runonce's keeper (${exe}): ${e.message}` };
        done();
      });
      let buffered = '';
      this.#control?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const [kind, a, ...rest] = line.split(' ');
          if (kind === 'p') this.#pid = Number(a);
          else if (kind === 'f') o.onFired?.(a === 'kill' ? 'kill' : 'term');
          else if (kind === 'e') {
            result = { code: Number(a), signal: rest[0] && rest[0] !== '-' ? (rest[0] as NodeJS.Signals) : null };
          } else if (kind === 'x') {
            const message = rest.join(' ');
            result =
              a === 'ETIMEDOUT'
                ? { code: 126, signal: null, error: message }
                : {
                    code: a === 'ENOENT' ? 127 : 126,
                    signal: null,
                    error: `cannot run ${JSON.stringify(file)}: ${message}`,
                  };
          }
        }
      });
      this.#control?.on('error', () => {});
      // After the keeper exits, read what it said to the end (its exit may be seen first) and let the
      // output pipes drain, but never wait on grandchildren that keep them open.
      this.#keeper.once('exit', () => {
        const timer = setTimeout(done, 500);
        this.#keeper.once('close', () => {
          clearTimeout(timer);
          done();
        });
      });
    });
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** A renewal was confirmed: the command may run until this new stopBy (engine clock, CLOCK_MONOTONIC ms). */
  renewed(stopBy: number): void {
    this.#tell(`r ${stopBy}`);
  }

  /** Stop the command: `sig` to its group now, SIGKILL at the end of the grace (or sooner, if a deadline is). */
  terminate(sig: NodeJS.Signals = 'SIGTERM'): void {
    this.#tell(`s ${systemClock.monotonic() + this.#graceMs} ${sig}`);
  }

  /** SIGKILL to the command's group now. */
  kill(): void {
    this.#tell('k');
  }

  #tell(line: string): void {
    if (this.#ended || !this.#control || this.#control.destroyed) return;
    this.#control.write(`${line}\n`);
  }
}

/**
 * How to start the keeper: the standalone executable runs itself; from npm,
 * Node runs keeper.js from the bundle (beside the entry, or one level up from
 * a chunk); in the source tree (tests), Node 24 runs keeper.ts as it is.
 */
function keeperCommand(): string[] {
  if (RUNONCE_SEA) return [process.execPath];
  for (const rel of ['./keeper.js', '../keeper.js', './keeper.ts']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return [process.execPath, fileURLToPath(url)];
  }
  throw new Error(`runonce's keeper is missing beside ${fileURLToPath(import.meta.url)}: reinstall runonce`);
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}
