import { constants } from 'node:os';
import { RunOnceError } from '@runonce/core';

/** sysexits.h names, as SPEC.md uses them. */
export const ExitCode = {
  ok: 0,
  failedElsewhere: 1,
  usage: 64,
  unavailable: 69,
  software: 70,
  tempFail: 75,
  config: 78,
} as const;

/** 128 + n, as a shell reports a process killed by signal n. */
export function signalExitCode(signal: NodeJS.Signals | string | undefined): number {
  const n = signal ? constants.signals[signal as NodeJS.Signals] : undefined;
  return 128 + (n ?? constants.signals.SIGTERM);
}

/** The one mapping from a typed error to the process's exit code. */
export function exitCodeFor(error: unknown): number {
  if (!RunOnceError.is(error)) {
    // A malformed command line from node's own parsers, or a bug.
    return ExitCode.software;
  }
  switch (error.code) {
    case 'E_USAGE':
      return ExitCode.usage;
    case 'E_CONFIG':
      return ExitCode.config;
    case 'E_BACKEND_UNAVAILABLE':
    case 'E_ACCESS_DENIED':
    case 'E_MISSING_TABLE':
    case 'E_THROTTLED':
    case 'E_VALIDATION':
    case 'E_CORRUPT_STATE':
      return ExitCode.unavailable;
    case 'E_BUSY':
    case 'E_WAIT_TIMEOUT':
    case 'E_LEASE_LOST':
      return ExitCode.tempFail;
    case 'E_INTERRUPTED':
      return signalExitCode(signalOf(error));
    case 'E_TASK_FAILED': {
      const details = (error as { details?: { ranHere?: boolean; exitCode?: number } }).details;
      if (details?.ranHere && typeof details.exitCode === 'number' && details.exitCode > 0) {
        return Math.min(details.exitCode, 255);
      }
      return ExitCode.failedElsewhere;
    }
    default:
      return ExitCode.software;
  }
}

/** The signal recorded on an InterruptedError by the CLI (see commands/exec). */
function signalOf(error: unknown): string | undefined {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const s = (e as { signal?: unknown }).signal;
    if (typeof s === 'string') return s;
    if (typeof e === 'string' && e.startsWith('SIG')) return e;
  }
  return undefined;
}
