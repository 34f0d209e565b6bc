import { formatDuration, UsageError } from '@runonce/core';

// Not `import … from 'node:fs'`: its ESM facade loads fs streams eagerly, ~4 ms of the skip path.
const { closeSync, fstatSync, openSync, writeSync } = process.getBuiltinModule('node:fs');

/** Where a command writes: a stream, or anything with `write` (tests pass their own). */
export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/** Where a command writes, and what it reads from its surroundings; tests pass their own. */
export interface Io {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export function processIo(): Io {
  return {
    // Made on first use: the skip path prints nothing to stdout.
    get stdout() {
      return quiet(process.stdout);
    },
    stderr: stderrLines,
    env: process.env,
    cwd: process.cwd(),
  };
}

const quieted = new WeakSet<NodeJS.WriteStream>();
/**
 * A stream of ours whose reader may go away (`runonce status | head`, a hook's pipes closed by the
 * CodeDeploy agent at its timeout): a write after that fails with EPIPE, which must drop the output,
 * never crash with a stack trace or stop runonce before it records what happened. (Writes after
 * that reach a destroyed stream, which drops them without another error.)
 */
export function quiet(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (!quieted.has(stream)) {
    quieted.add(stream);
    stream.on('error', () => {});
  }
  return stream;
}

/**
 * runonce's own lines, written to fd 2 directly. `process.stderr` is a stream
 * whose making loads node:stream, net and tty, ~5 ms of the skip path; and
 * Node writes a file, a TTY or a pipe synchronously on Linux anyway. A full
 * non-blocking pipe (EAGAIN) hands this and every later line to the stream,
 * which queues them. A closed one (EPIPE: the CodeDeploy agent closes a
 * hook's pipes at its timeout) drops the line: nobody can read it, and
 * runonce must go on to record what happened.
 */
let stderrStream = false;
const stderrLines: Output = {
  write(text: string) {
    if (stderrStream) return process.stderr.write(text);
    const bytes = Buffer.from(text);
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(2, bytes, written);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return false;
      stderrStream = true;
      quiet(process.stderr).write(bytes.subarray(written));
    }
    return true;
  },
  get isTTY() {
    // Only a character device can be a terminal; only then is tty (and net) worth loading to ask.
    try {
      if (!fstatSync(2).isCharacterDevice()) return false;
    } catch {
      return false;
    }
    return process.getBuiltinModule('node:tty').isatty(2);
  },
  get columns() {
    return process.stderr.columns;
  },
};

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const NON_TTY_INTERVAL_MS = 30_000;

type Tone = 'plain' | 'good' | 'bad' | 'warn';
/**
 * What a line is about, for `--log-format json`: `event` names it (docs/cli.md lists them), the rest
 * are its figures (attempt, owner, exitCode, waitedMs, reason, …). Text lines ignore it.
 */
export interface LineFields {
  readonly event: string;
  readonly [field: string]: string | number | boolean | undefined;
}
/** One line about a subject (a task, a lock), as Reporter.line with the subject bound. */
export type Say = (message: string, tone?: Exclude<Tone, 'plain'>, fields?: LineFields) => void;
const LEVEL: Record<Tone, string> = { plain: 'info', good: 'info', bad: 'error', warn: 'warn' };
const COLOURS: Record<Tone, string> = { plain: '', good: '\x1b[32m', bad: '\x1b[31m', warn: '\x1b[33m' };

/**
 * runonce's own lines: one short line per decision on stderr, prefixed,
 * coloured only on a TTY, copied (with a timestamp) to the log file. While
 * waiting: a spinner on a TTY, else one line every 30 s.
 */
export class Reporter {
  readonly #io: Io;
  readonly #tty: boolean;
  readonly #colour: boolean;
  #log: number | undefined;
  #spinner: { timer: NodeJS.Timeout; text: () => string; frame: number } | undefined;
  #lastWaitLine = Number.NEGATIVE_INFINITY;
  readonly #json: boolean;
  /** Fields every JSON line carries (namespace, task or lock). */
  context: Readonly<Record<string, string>> = {};

  constructor(io: Io, logFile?: string, format: 'text' | 'json' = 'text') {
    this.#io = io;
    this.#json = format === 'json';
    // JSON lines are for a log pipeline: no spinner, no colour, whatever stderr is.
    this.#tty = io.stderr.isTTY === true && !this.#json;
    this.#colour = this.#tty && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
    if (logFile) {
      try {
        this.#log = openSync(logFile, 'a', 0o640);
      } catch (e) {
        throw new UsageError(`cannot open --log-file ${logFile}: ${(e as Error).message}`, { cause: e });
      }
    }
  }

  get logFd(): number | undefined {
    return this.#log;
  }

  line(subject: string, message: string, tone: Tone = 'plain', fields?: LineFields): void {
    this.#clearSpinner();
    if (this.#json) {
      const json = this.#jsonLine(message, tone, fields);
      this.#io.stderr.write(`${json}\n`);
      if (this.#log !== undefined) writeSync(this.#log, `${json}\n`);
      return;
    }
    const text = `runonce: ${subject}: ${message}`;
    if (this.#colour && tone !== 'plain')
      this.#io.stderr.write(`\x1b[2mrunonce:\x1b[0m ${subject}: ${COLOURS[tone]}${message}\x1b[0m\n`);
    else this.#io.stderr.write(`${text}\n`);
    this.logOnly(text);
  }

  /** A waiting notice: a spinner on a TTY (updated in place), else a line every 30 s. */
  waiting(subject: string, describe: () => string, fields?: () => LineFields): void {
    const message = describe();
    if (this.#tty) {
      const text = () => `runonce: ${subject}: ${describe()}`;
      if (!this.#spinner) {
        const s = { text, frame: 0, timer: setInterval(() => this.#drawSpinner(), 100) };
        s.timer.unref();
        this.#spinner = s;
        this.logOnly(text());
      } else {
        this.#spinner.text = text;
      }
      this.#drawSpinner();
      return;
    }
    const now = Date.now();
    if (now - this.#lastWaitLine >= NON_TTY_INTERVAL_MS) {
      this.#lastWaitLine = now;
      this.line(subject, message, 'plain', fields?.());
    }
  }

  /** Copy of the child's output, untouched. */
  logChunk(chunk: Buffer): void {
    if (this.#log !== undefined) writeSync(this.#log, chunk);
  }

  /** A line for the log file only (not worth the hook's console), in the chosen format. */
  logLine(subject: string, message: string, fields?: LineFields): void {
    if (this.#log === undefined) return;
    if (this.#json) writeSync(this.#log, `${this.#jsonLine(message, 'plain', fields)}\n`);
    else this.logOnly(`runonce: ${subject}: ${message}`);
  }

  #jsonLine(message: string, tone: Tone, fields: LineFields | undefined): string {
    return JSON.stringify({
      time: new Date().toISOString(),
      level: LEVEL[tone],
      event: fields?.event ?? 'message',
      ...this.context,
      ...fields,
      message,
    });
  }

  logOnly(text: string): void {
    if (this.#log !== undefined) writeSync(this.#log, `${new Date().toISOString()} ${text}\n`);
  }

  close(): void {
    this.#clearSpinner();
    if (this.#log !== undefined) {
      closeSync(this.#log);
      this.#log = undefined;
    }
  }

  #drawSpinner(): void {
    const s = this.#spinner;
    if (!s) return;
    const frame = SPINNER[s.frame++ % SPINNER.length];
    const width = (this.#io.stderr as { columns?: number }).columns ?? 100;
    this.#io.stderr.write(`\r\x1b[K${frame} ${s.text().slice(0, width - 3)}`);
  }

  #clearSpinner(): void {
    if (!this.#spinner) return;
    clearInterval(this.#spinner.timer);
    this.#spinner = undefined;
    this.#io.stderr.write('\r\x1b[K');
  }
}

/**
 * A command as a shell would need it typed, for the lines people read:
 * `sh -c 'echo migrating; sleep 1'`, never `sh -c echo migrating; sleep 1`.
 * With --shell the words are one script for `sh -c`, so that is what is shown.
 */
export function commandLine(argv: readonly string[], shell: boolean): string {
  const words = shell ? ['sh', '-c', argv.join(' ')] : argv;
  return words.map(shellWord).join(' ');
}

function shellWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `12:01:33` in local time, for "done on X at 12:01:33". */
export function clockTime(iso: string | undefined): string {
  if (!iso) return '?';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toTimeString().slice(0, 8);
  return today ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

/** How long ago an ISO time was, for humans (clocks of other hosts may differ). */
export function since(iso: string | undefined): string {
  if (!iso) return '?';
  const ms = Date.now() - new Date(iso).getTime();
  return Number.isFinite(ms) ? human(ms) : '?';
}

/** Whole seconds (or tenths under a second), for lines people read while waiting. */
export function human(ms: number): string {
  if (ms < 1000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatDuration(1000 * Math.floor(ms / 1000));
}
