// Stop signals (Ctrl-C, scale-in, a hook's timeout) and what the commands that run something make of
// them: the rules for a first, a repeated and an escalating signal.
import { formatDuration, systemClock } from '@runonce/core';
import type { LineFields, Reporter } from './io.js';

/** The signals an operator or a supervisor sends to stop us (Ctrl-C, scale-in, hook timeout). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Listen for stop signals until disposed; while listening they no longer kill this process. */
export function onStopSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
}

/**
 * Stop signals arriving within this long of the first are the same request: the CodeDeploy agent
 * SIGTERMs the hook's process group and, under `runas`, `su` forwards its own SIGTERM milliseconds
 * later. Not an escalation: the command keeps its grace.
 */
export const SAME_REQUEST_MS = 1000;

export interface StopRequestHandlers {
  /** The first SIGINT/SIGTERM/SIGHUP. */
  stop(signal: NodeJS.Signals): void;
  /** One more within SAME_REQUEST_MS of the first (the same request: ignored, but worth a line). */
  repeated?(signal: NodeJS.Signals): void;
  /** A signal later than that, or a third: stop being patient. */
  escalate(signal: NodeJS.Signals): void;
}

/** Listen for stop signals until disposed (while listening, they no longer kill this process). */
export function onStopRequests(h: StopRequestHandlers): () => void {
  let first: number | undefined;
  let count = 0;
  return onStopSignals((signal) => {
    const now = systemClock.monotonic();
    count++;
    if (first === undefined) {
      first = now;
      h.stop(signal);
    } else if (now - first < SAME_REQUEST_MS && count < 3) {
      h.repeated?.(signal);
    } else {
      h.escalate(signal);
    }
  });
}

/** What a stop request acts on once the command runs (child.ts's Child). */
interface Stoppable {
  terminate(signal: NodeJS.Signals): void;
  kill(): void;
}

/**
 * Stop requests for a command that runs under a lease (`exec`, `lock`): the
 * first signal goes to the command (SIGKILL after the grace) and aborts
 * `interrupt`; a repeat within SAME_REQUEST_MS is logged only; a later one, or
 * a third, SIGKILLs the command at once.
 */
export class StopRequests {
  readonly interrupt = new AbortController();
  /** The first stop signal received, if any. */
  signal: NodeJS.Signals | undefined;
  /** Set once the command runs. */
  child: Stoppable | undefined;
  readonly dispose: () => void;

  constructor(o: { subject: string; reporter: Reporter; graceMs: number; onStop?: () => void }) {
    const say = (m: string, tone: 'warn' | 'bad', fields: LineFields) => o.reporter.line(o.subject, m, tone, fields);
    this.dispose = onStopRequests({
      stop: (signal) => {
        this.signal = signal;
        if (this.child) {
          const grace = formatDuration(o.graceMs);
          say(`received ${signal}: passing it to the command, SIGKILL in ${grace} if it is still running`, 'warn', {
            event: 'signal',
            signal,
            graceMs: o.graceMs,
          });
          this.child.terminate(signal);
          o.onStop?.();
        }
        this.interrupt.abort(Object.assign(new Error(signal), { signal }));
      },
      repeated: (signal) =>
        o.reporter.logLine(o.subject, `${signal} again, the same request: still stopping`, {
          event: 'signal_repeated',
          signal,
        }),
      escalate: (signal) => {
        if (!this.child) return;
        say(`received ${signal} again: SIGKILL to the command now`, 'bad', { event: 'signal_escalated', signal });
        this.child.kill();
      },
    });
  }
}
