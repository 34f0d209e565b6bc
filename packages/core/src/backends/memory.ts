import type { Backend, CreateResult, JsonObject, RecordKey, Slot } from '../backend.js';
import { checkSlotIndex, keyToString } from '../backend.js';
import { ValidationError } from '../errors.js';

interface StoredSlot {
  value: string;
  version: number;
}

/**
 * An in-process store for tests and single-process use. Every call yields to
 * the event loop first, so concurrent callers interleave as they would on a
 * real server. Values are copied in and out as JSON, as a real store would.
 */
export class MemoryBackend implements Backend {
  readonly name = 'memory';
  readonly capabilities = { ttl: false, shared: false, ordered: true } as const;
  readonly #records = new Map<string, { key: RecordKey; slots: Map<number, StoredSlot> }>();
  #closed = false;

  async read(key: RecordKey): Promise<Slot[]> {
    await this.#tick();
    const rec = this.#records.get(keyToString(key));
    if (!rec) return [];
    return [...rec.slots.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, s]) => ({ index, value: JSON.parse(s.value) as JsonObject, version: s.version }));
  }

  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const text = JSON.stringify(value);
    await this.#tick();
    const rec = this.#record(key);
    if (rec.slots.has(index)) return { won: false };
    rec.slots.set(index, { value: text, version: 1 });
    return { won: true, version: 1 };
  }

  async createNext(key: RecordKey, index: number, value: JsonObject, keep: number): Promise<CreateResult> {
    checkSlotIndex(index);
    const text = JSON.stringify(value);
    await this.#tick();
    const { slots } = this.#record(key);
    if (Math.max(0, ...slots.keys()) !== index - 1) return { won: false };
    slots.set(index, { value: text, version: 1 });
    for (const old of slots.keys()) if (old <= index - keep) slots.delete(old);
    return { won: true, version: 1 };
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const text = JSON.stringify(value);
    await this.#tick();
    const rec = this.#record(key);
    const version = (rec.slots.get(index)?.version ?? 0) + 1;
    rec.slots.set(index, { value: text, version });
    return version;
  }

  async remove(key: RecordKey): Promise<void> {
    await this.#tick();
    this.#records.delete(keyToString(key));
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    await this.#tick();
    const id = keyToString(key);
    const rec = this.#records.get(id);
    rec?.slots.delete(index);
    if (rec && rec.slots.size === 0) this.#records.delete(id);
  }

  async list(prefix: RecordKey): Promise<RecordKey[]> {
    await this.#tick();
    const out: RecordKey[] = [];
    for (const { key, slots } of this.#records.values()) {
      if (slots.size > 0 && prefix.every((seg, i) => key[i] === seg)) out.push([...key]);
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** The record at `key`, made empty if absent (an empty record reads and lists as none). */
  #record(key: RecordKey): { key: RecordKey; slots: Map<number, StoredSlot> } {
    const id = keyToString(key);
    let rec = this.#records.get(id);
    if (!rec) {
      rec = { key: [...key], slots: new Map() };
      this.#records.set(id, rec);
    }
    return rec;
  }

  async #tick(): Promise<void> {
    if (this.#closed) throw new ValidationError('memory backend is closed');
    await Promise.resolve();
  }
}
