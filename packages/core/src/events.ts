import { EventEmitter } from 'node:events';

interface Where {
  readonly task: string;
  readonly scope: string;
  /** Set for `withLock`/`lock` holders; the task field then holds the lock's name. */
  readonly lock?: boolean;
}

/** What the engine reports, for logs and metrics. Payloads are plain data. */
export interface RunOnceEvents {
  claimed: Where & { attempt: number; owner: string; takeover: boolean };
  takeover: Where & { attempt: number; previous: { attempt: number; owner: string; state: string } };
  heartbeat: Where & { attempt: number; version: number };
  lost: Where & { attempt: number; reason: string };
  done: Where & { attempt: number; durationMs: number };
  failed: Where & { attempt: number; exitCode?: number | undefined; error: string; durationMs: number };
  abandoned: Where & { attempt: number; reason: string };
  skipped: Where & {
    reason: 'done' | 'busy';
    attempt?: number | undefined;
    owner?: string | undefined;
    finishedAt?: string | undefined;
  };
  /** Emitted on every poll while another instance holds the task. */
  waiting: Where & { attempt: number; owner: string; startedAt: string; waitedMs: number };
  /** The wait ended: the holder finished, or we may now claim. */
  waited: Where & { waitedMs: number; outcome: string };
}

export type RunOnceEventName = keyof RunOnceEvents;

/** A typed face over node's EventEmitter; listeners that throw never break a run. */
export class Events {
  readonly #emitter = new EventEmitter();

  on<E extends RunOnceEventName>(event: E, listener: (payload: RunOnceEvents[E]) => void): () => void {
    this.#emitter.on(event, listener);
    return () => this.#emitter.off(event, listener);
  }

  emit<E extends RunOnceEventName>(event: E, payload: RunOnceEvents[E]): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (p: RunOnceEvents[E]) => void)(payload);
      } catch {
        // A logging hook must not decide the fate of a task.
      }
    }
  }
}
