/**
 * The waiting side of a backend's `watch`, for backends whose store notifies by name (Redis channels,
 * PostgreSQL NOTIFY): who waits on which record, and on which slot of it. The backend only subscribes
 * when a record gets its first watcher and calls `wake` on each notification.
 *
 * A watcher may name one slot (a lock's queued waiter watches only the slot ahead of it): it then
 * sleeps through changes of other slots, so one release wakes one waiter, not the whole queue.
 */
export class Watchers {
  readonly #byKey = new Map<string, Set<Waiting>>();

  /**
   * Wait for `wake(key)` (or `signal`'s abort, which resolves too); with `slot`, only for a wake of that
   * slot or of the whole record. `first` is true when nobody else waits on `key`: the backend subscribes
   * then, and calls `fail` if it cannot (the promise rejects).
   */
  add(
    key: string,
    signal: AbortSignal,
    slot?: number,
  ): { promise: Promise<void>; first: boolean; fail(error: unknown): void } {
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
        if (own.size === 0 && this.#byKey.get(key) === own) this.#byKey.delete(key);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = () => done();
      waiting = { slot, done };
      if (signal.aborted) return resolve();
      own.add(waiting);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return { promise, first, fail: (error) => waiting.done(error ?? new Error('watch failed')) };
  }

  /**
   * Wake those waiting on `key`: with `slot`, its watchers and those that named no slot; without, all
   * (a removal, or a store whose notification does not say which slot changed).
   */
  wake(key: string, slot?: number): void {
    const set = this.#byKey.get(key);
    if (!set) return;
    for (const w of [...set]) if (slot === undefined || w.slot === undefined || w.slot === slot) w.done();
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
  readonly slot: number | undefined;
  done(error?: unknown): void;
}
