/**
 * Helpers for testing code that uses runonce, and for runonce's own tests:
 * a clock that moves only when told, and a backend wrapper that injects the
 * faults a real server will not produce on demand.
 */
import type { Backend, CreateResult, JsonObject, RecordKey, Slot } from './backend.js';
import { MemoryBackend } from './backends/memory.js';
import { Watchers } from './watchers.js';

export { FakeClock } from './clock.js';

type Op = 'read' | 'create' | 'createNext' | 'write' | 'remove' | 'removeSlot' | 'list';

/**
 * Wraps a backend; `fault` is asked before each call and may throw (an
 * outage, throttling) or return a promise to stall on (a slow network, a
 * paused server). Counts calls per operation.
 */
export class FaultyBackend implements Backend {
  readonly name: string;
  readonly capabilities: Backend['capabilities'];
  readonly calls: Record<Op, number> = {
    read: 0,
    create: 0,
    createNext: 0,
    write: 0,
    remove: 0,
    removeSlot: 0,
    list: 0,
  };
  fault: ((op: Op, key: RecordKey) => void | Promise<void>) | undefined;
  /** Present when the wrapped backend has it, so faults reach the same path `lock()` takes there. */
  readonly createNext?: Backend['createNext'];

  constructor(readonly inner: Backend) {
    this.name = `faulty(${inner.name})`;
    this.capabilities = inner.capabilities;
    const next = inner.createNext?.bind(inner);
    if (next) {
      this.createNext = async (key, index, value, keep) => {
        await this.#gate('createNext', key);
        return next(key, index, value, keep);
      };
    }
  }

  async #gate(op: Op, key: RecordKey): Promise<void> {
    this.calls[op]++;
    await this.fault?.(op, key);
  }

  async read(key: RecordKey): Promise<Slot[]> {
    await this.#gate('read', key);
    return this.inner.read(key);
  }
  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    await this.#gate('create', key);
    return this.inner.create(key, index, value);
  }
  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    await this.#gate('write', key);
    return this.inner.write(key, index, value);
  }
  async remove(key: RecordKey): Promise<void> {
    await this.#gate('remove', key);
    return this.inner.remove(key);
  }
  async removeSlot(key: RecordKey, index: number): Promise<void> {
    await this.#gate('removeSlot', key);
    return this.inner.removeSlot(key, index);
  }
  async list(prefix: RecordKey): Promise<RecordKey[]> {
    await this.#gate('list', prefix);
    return this.inner.list(prefix);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The memory backend with a watch, as Redis has one: every create and write wakes the watchers of
 * that slot (and those watching the whole record). `wakes` counts the watchers woken.
 */
export class NotifyingMemory extends MemoryBackend {
  readonly watchers = new Watchers();
  wakes = 0;
  watch(key: RecordKey, signal: AbortSignal, slot?: number): Promise<void> {
    return this.watchers.add(key.join('/'), signal, slot).promise;
  }
  override async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    const r = await super.create(key, index, value);
    this.#wake(key, index);
    return r;
  }
  override async createNext(key: RecordKey, index: number, value: JsonObject, keep: number): Promise<CreateResult> {
    const r = await super.createNext(key, index, value, keep);
    if (r.won) this.#wake(key, index);
    return r;
  }
  override async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    const v = await super.write(key, index, value);
    this.#wake(key, index);
    return v;
  }
  #wake(key: RecordKey, slot: number): void {
    const id = key.join('/');
    const before = this.watchers.count(id);
    this.watchers.wake(id, slot);
    this.wakes += before - this.watchers.count(id);
  }
}
