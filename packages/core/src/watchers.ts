/**
 * The waiting side of a backend's `watch`, for backends whose store notifies by name (Redis channels,
 * PostgreSQL NOTIFY): who waits on which record, woken together when its notification arrives. The
 * backend only subscribes when a record gets its first watcher and calls `wake` on each notification.
 */
export class Watchers {
  readonly #byKey = new Map<string, Set<Waiting>>();

  /**
   * Wait for `wake(key)` (or `signal`'s abort, which resolves too). `first` is true when nobody else
   * waits on `key`: the backend subscribes then, and calls `fail` if it cannot (the promise rejects).
   */
  add(key: string, signal: AbortSignal): { promise: Promise<void>; first: boolean; fail(error: unknown): void } {
    let set = this.#byKey.get(key);
    const first = set === undefined || set.size === 0;
    if (!set) {
      set = new Set();
      this.#byKey.set(key, set);
    }
    const own = set;
    let waiting!: Waiting;
    const promise = new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        own.delete(waiting);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = () => done();
      waiting = { done };
      if (signal.aborted) return resolve();
      own.add(waiting);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return { promise, first, fail: (error) => waiting.done(error ?? new Error('watch failed')) };
  }

  /** Wake everyone waiting on `key`. */
  wake(key: string): void {
    const set = this.#byKey.get(key);
    if (!set) return;
    this.#byKey.delete(key);
    for (const w of set) w.done();
  }

  /** How many wait on `key` now. */
  count(key: string): number {
    return this.#byKey.get(key)?.size ?? 0;
  }

  /** Wake everyone (the backend is closing). */
  wakeAll(): void {
    for (const key of [...this.#byKey.keys()]) this.wake(key);
  }
}

interface Waiting {
  done(error?: unknown): void;
}
