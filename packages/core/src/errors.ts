/**
 * One error root with a stable string `code`. Use `RunOnceError.is(e, code?)`
 * rather than `instanceof`: two bundled copies of core (an app and a backend
 * package each with its own) make `instanceof` lie.
 */

export const ErrorCode = {
  usage: 'E_USAGE',
  config: 'E_CONFIG',
  validation: 'E_VALIDATION',
  backendUnavailable: 'E_BACKEND_UNAVAILABLE',
  throttled: 'E_THROTTLED',
  accessDenied: 'E_ACCESS_DENIED',
  missingTable: 'E_MISSING_TABLE',
  corruptState: 'E_CORRUPT_STATE',
  taskFailed: 'E_TASK_FAILED',
  busy: 'E_BUSY',
  waitTimeout: 'E_WAIT_TIMEOUT',
  leaseLost: 'E_LEASE_LOST',
  interrupted: 'E_INTERRUPTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const marker = Symbol.for('runonce.error');

export class RunOnceError extends Error {
  readonly code: ErrorCode;
  readonly [marker] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** True for any runonce error (from any copy of this package), optionally of one code. */
  static is(value: unknown, code?: ErrorCode): value is RunOnceError {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[marker] !== true) return false;
    return code === undefined || (value as RunOnceError).code === code;
  }
}

/** Bad input from a caller: a task, scope or namespace name, a duration, an option. */
export class UsageError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.usage, message, options);
  }
}

/** A configuration file that cannot be read or does not validate. */
export class ConfigError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.config, message, options);
  }
}

/** The store refused a request as malformed (a name or value over its limits). */
export class ValidationError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.validation, message, options);
  }
}

/** The store cannot be reached (network, DNS, refused, timed out). The task was not run. */
export class BackendUnavailableError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.backendUnavailable, message, options);
  }
}

/** The store throttled us and retries ran out. Never means won or lost. */
export class ThrottledError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.throttled, message, options);
  }
}

export class AccessDeniedError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.accessDenied, message, options);
  }
}

/** The backend's table (or equivalent) does not exist; `runonce init` creates it. */
export class MissingTableError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.missingTable, message, options);
  }
}

/** A slot holds something runonce did not write, or cannot parse. Nothing is run on it. */
export class CorruptStateError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.corruptState, message, options);
  }
}

export interface FailureDetails {
  readonly task: string;
  readonly scope: string;
  readonly attempt: number;
  readonly owner?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly error?: string | undefined;
  readonly finishedAt?: string | undefined;
  /** True when the failed attempt ran in this process. */
  readonly ranHere: boolean;
  /** `takeovers` when no attempt failed but too many crashed or were interrupted. */
  readonly kind?: 'failed' | 'takeovers';
}

/** The task failed: here (ranHere) or on another instance, with no retries left. */
export class TaskFailedError extends RunOnceError {
  readonly details: FailureDetails;
  constructor(message: string, details: FailureDetails, options?: { cause?: unknown }) {
    super(ErrorCode.taskFailed, message, options);
    this.details = details;
  }
}

/** `onBusy: 'fail'` and another instance holds the task. */
export class BusyError extends RunOnceError {
  constructor(
    message: string,
    readonly holder: { owner?: string | undefined; attempt: number },
  ) {
    super(ErrorCode.busy, message);
  }
}

export class WaitTimeoutError extends RunOnceError {
  constructor(message: string) {
    super(ErrorCode.waitTimeout, message);
  }
}

/** This owner could not renew for a whole lease, or saw a higher attempt: it must stop. */
export class LeaseLostError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.leaseLost, message, options);
  }
}

/** The caller's signal aborted the run (SIGINT/SIGTERM in the CLI); the attempt is recorded abandoned. */
export class InterruptedError extends RunOnceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.interrupted, message, options);
  }
}
