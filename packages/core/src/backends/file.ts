import type { BigIntStats, Dirent } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Backend, CreateResult, JsonObject, RecordKey, Slot } from '../backend.js';
import { checkSlotIndex, isKeySegment, keyToString } from '../backend.js';
import { BACKOFF, pauseBefore } from '../backoff.js';
import { systemClock } from '../clock.js';
import {
  AccessDeniedError,
  BackendUnavailableError,
  CorruptStateError,
  RunOnceError,
  ValidationError,
} from '../errors.js';
import { link, mkdirs, type OpenFile, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from './fs-async.js';

export interface FileBackendOptions {
  /** The directory that holds every record. Created (0700) on first use. */
  readonly dir: string;
}

/**
 * Each record key segment becomes a directory; the record's slots live in a
 * `@slots` directory inside it, one file per slot named by its index:
 *
 *   <dir>/shop/db-migration/@slots/1          generation pointer [shop, db-migration]
 *   <dir>/shop/db-migration/1/@slots/1        attempt 1 of scope `1`
 *
 * `@` is not allowed in a segment, so a scope can never be mistaken for the
 * slots of its parent record.
 */
const SLOTS = '@slots';
const SLOT_FILE = /^[1-9][0-9]*$/;
const TEMP_PREFIX = '.tmp-';
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** A temp file this old belongs to a writer that died. */
const STALE_TEMP_MS = 10 * 60_000;
/** `<slots>/<n>.lock` is held while slot n is written; not a slot name, so read and list skip it. */
const LOCK_SUFFIX = '.lock';
/**
 * A slot lock this old (by mtime) belongs to a writer that died holding it and
 * is broken. A write holds its lock for a few milliseconds (two fsyncs).
 */
const STALE_LOCK_MS = 10_000;
/** A write gives up waiting after this: the lock's holder is stuck alive, or its mtime is in the future. */
const LOCK_WAIT_MS = 3 * STALE_LOCK_MS;
/** How often an operation is retried when a concurrent remove pruned its directory under it. */
const PRUNE_RETRIES = 20;

interface StoredSlot {
  readonly version: number;
  readonly value: JsonObject;
}

/**
 * A store in a local directory, safe for several processes on one host.
 *
 * create: the slot is written to a private temp file, fsynced, then `link()`ed
 * to its name. link() fails with EEXIST if the name exists, atomically, so of
 * N creators exactly one wins, across processes, and nobody ever sees a
 * half-written slot.
 *
 *   A: write .tmp-A ─ fsync ─ link(.tmp-A, 1) → ok      (won)
 *   B: write .tmp-B ─ fsync ─────── link(.tmp-B, 1) → EEXIST (lost)
 *
 * write: read version v, write v+1 to a temp file, `rename()` it over the slot
 * (atomic replace), all under the slot's lock file `<n>.lock`, taken with
 * `open(…, 'wx')` (O_CREAT|O_EXCL). Normally only the owner writes, but an
 * operator's `release --force` can write during the owner's heartbeat: without
 * the lock both read v and write v+1, one write is lost and the version does
 * not show it. Writes to one slot from this process are also queued, so they
 * do not contend for the lock. create needs no lock: link() is atomic.
 *
 *   A: lock ─ read v ─ write v+1 ─ rename ─ unlock
 *   B: lock → EEXIST … pause … lock ─ read v+1 ─ write v+2 ─ rename ─ unlock
 */
export class FileBackend implements Backend {
  readonly name = 'file';
  get location(): string {
    return `dir ${this.dir}`;
  }
  readonly capabilities = { ttl: false, shared: true } as const;
  readonly dir: string;
  #closed = false;
  #rootReady: Promise<void> | undefined;
  readonly #writeQueues = new Map<string, Promise<unknown>>();

  constructor(options: FileBackendOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '' || options.dir.includes('\0')) {
      throw new ValidationError(`file backend: dir must be a non-empty path, got ${JSON.stringify(options?.dir)}`);
    }
    this.dir = resolve(options.dir);
  }

  async read(key: RecordKey): Promise<Slot[]> {
    const slotsDir = this.#slotsDir(key);
    await this.#ready();
    let names: string[];
    try {
      names = await readdir(slotsDir);
    } catch (e) {
      if (code(e) === 'ENOENT') return [];
      throw this.#mapError(e, 'read', key);
    }
    const slots: Slot[] = [];
    for (const name of names) {
      if (!SLOT_FILE.test(name)) continue;
      const stored = await this.#readSlot(join(slotsDir, name), key);
      // removed between readdir and readFile: it is not there any more
      if (stored) slots.push({ index: Number(name), value: stored.value, version: stored.version });
    }
    return slots.sort((a, b) => a.index - b.index);
  }

  async create(key: RecordKey, index: number, value: JsonObject): Promise<CreateResult> {
    checkSlotIndex(index);
    const slotsDir = this.#slotsDir(key);
    const text = serialise(1, value);
    await this.#ready();
    return this.#retryPruned(key, 'create', async () => {
      await this.#ensureDir(slotsDir);
      const temp = await this.#writeTemp(slotsDir, text);
      try {
        await link(temp, join(slotsDir, String(index)));
      } catch (e) {
        if (code(e) === 'EEXIST') return { won: false } as const;
        throw e;
      } finally {
        await unlink(temp).catch(() => {});
      }
      await syncDir(slotsDir);
      return { won: true, version: 1 } as const;
    });
  }

  async write(key: RecordKey, index: number, value: JsonObject): Promise<number> {
    checkSlotIndex(index);
    const slotsDir = this.#slotsDir(key);
    checkValue(value);
    await this.#ready();
    const file = join(slotsDir, String(index));
    return this.#serialised(file, () =>
      this.#retryPruned(key, 'write', async () => {
        await this.#ensureDir(slotsDir);
        const lock = await acquireLock(`${file}${LOCK_SUFFIX}`);
        try {
          const current = await this.#readSlot(file, key);
          const version = (current?.version ?? 0) + 1;
          const temp = await this.#writeTemp(slotsDir, serialise(version, value));
          try {
            await rename(temp, file);
          } catch (e) {
            await unlink(temp).catch(() => {});
            throw e;
          }
          await syncDir(slotsDir);
          return version;
        } finally {
          await releaseLock(lock);
        }
      }),
    );
  }

  async remove(key: RecordKey): Promise<void> {
    const slotsDir = this.#slotsDir(key);
    await this.#ready();
    try {
      // A concurrent create may add a file while rm walks the directory; rm retries on ENOTEMPTY.
      await rm(slotsDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 10 });
    } catch (e) {
      throw this.#mapError(e, 'remove', key);
    }
    await this.#prune(dirname(slotsDir));
  }

  async removeSlot(key: RecordKey, index: number): Promise<void> {
    checkSlotIndex(index);
    const slotsDir = this.#slotsDir(key);
    await this.#ready();
    try {
      await unlink(join(slotsDir, String(index)));
    } catch (e) {
      if (code(e) !== 'ENOENT') throw this.#mapError(e, 'removeSlot', key);
    }
    await this.#sweepTemps(slotsDir);
    await this.#prune(slotsDir);
  }

  async list(prefix: RecordKey): Promise<RecordKey[]> {
    const start = this.#recordDir(prefix);
    await this.#ready();
    const out: RecordKey[] = [];
    const walk = async (dir: string, key: string[]): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return;
        throw this.#mapError(e, 'list', prefix);
      }
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        if (entry.name === SLOTS) {
          if (await this.#hasSlots(join(dir, SLOTS), prefix)) out.push([...key]);
        } else if (isSegment(entry.name)) {
          await walk(join(dir, entry.name), [...key, entry.name]);
        }
      }
    };
    await walk(start, [...prefix]);
    return out;
  }

  /** `runonce init`: the state directory, 0700. */
  async init(): Promise<string> {
    const existed = await stat(this.dir).then(
      () => true,
      () => false,
    );
    await mkdirs(this.dir, 0o700);
    return existed ? `state directory ${this.dir} exists; nothing to do` : `created state directory ${this.dir} (0700)`;
  }

  /**
   * `fs.watch` (inotify on Linux) on the record's slot directory: every create and write ends in a
   * rename or link there. Rejects where the directory cannot be watched (it does not exist yet, the
   * inotify limit is reached, a file system without notifications): the waiter then only polls.
   */
  watch(key: RecordKey, signal: AbortSignal): Promise<void> {
    const dir = this.#slotsDir(key);
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      let watcher: import('node:fs').FSWatcher;
      try {
        watcher = process.getBuiltinModule('node:fs').watch(dir, { persistent: false });
      } catch (e) {
        return reject(e);
      }
      const end = (error?: unknown) => {
        watcher.close();
        signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => end();
      watcher.once('change', () => end());
      watcher.once('error', (e) => end(e));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  describePermissions(): string {
    return `permissions: the user running runonce needs read/write on ${this.dir} (created 0700; files 0600). Share it between users with a group-owned directory.`;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  // ---------------------------------------------------------------------------

  #recordDir(key: RecordKey): string {
    if (!Array.isArray(key)) throw new ValidationError('file backend: a key is an array of segments');
    for (const segment of key) {
      if (!isSegment(segment)) {
        throw new ValidationError(
          `file backend: invalid key segment ${JSON.stringify(segment)} in ${JSON.stringify(key)}: use 1-128 of A-Z a-z 0-9 _ . - (not . or ..)`,
        );
      }
    }
    const dir = join(this.dir, ...key);
    // belt and braces: the pattern above already excludes separators and `..`
    const rel = relative(this.dir, dir);
    // by whole segments: `a..` is a valid task name, not a way out
    if (isAbsolute(rel) || rel.split(sep).includes('..')) {
      throw new ValidationError(`file backend: key ${JSON.stringify(key)} escapes ${this.dir}`);
    }
    return dir;
  }

  #slotsDir(key: RecordKey): string {
    if (key.length === 0) throw new ValidationError('file backend: a record key needs at least one segment');
    return join(this.#recordDir(key), SLOTS);
  }

  /** Creates the root once; a root that cannot be made is an unusable backend. */
  async #ready(): Promise<void> {
    if (this.#closed) throw new ValidationError('file backend is closed');
    this.#rootReady ??= mkdirs(this.dir, DIR_MODE).then(
      () => undefined,
      (e: unknown) => {
        this.#rootReady = undefined; // try again next time: the disk may come back
        throw mapFsError(e, `file backend: cannot use directory ${this.dir}`);
      },
    );
    await this.#rootReady;
  }

  async #ensureDir(dir: string): Promise<void> {
    const first = await mkdirs(dir, DIR_MODE);
    if (first === undefined) return;
    // New directories: make their entries durable, from the first one created up to the slots dir.
    for (let d = dirname(first); ; d = join(d, relative(d, dir).split(sep)[0] as string)) {
      await syncDir(d);
      if (d === dir) break;
    }
  }

  async #writeTemp(dir: string, text: string): Promise<string> {
    const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${tempSuffix()}`);
    let handle: OpenFile | undefined;
    try {
      handle = await open(temp, 'wx', FILE_MODE);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } catch (e) {
      await handle?.close().catch(() => {});
      handle = undefined;
      await unlink(temp).catch(() => {});
      throw e;
    } finally {
      await handle?.close();
    }
    return temp;
  }

  /** The slot's content, or undefined if the file does not exist. */
  async #readSlot(file: string, key: RecordKey): Promise<StoredSlot | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (code(e) === 'ENOENT') return undefined;
      throw this.#mapError(e, 'read', key);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new CorruptStateError(`file backend: slot file ${file} is not valid JSON (truncated or edited?)`, {
        cause: e,
      });
    }
    const p = parsed as Partial<StoredSlot> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      !Number.isSafeInteger(p.version) ||
      (p.version as number) < 1 ||
      typeof p.value !== 'object' ||
      p.value === null ||
      Array.isArray(p.value)
    ) {
      throw new CorruptStateError(`file backend: slot file ${file} does not hold a runonce slot`);
    }
    return { version: p.version as number, value: p.value };
  }

  async #hasSlots(slotsDir: string, prefix: RecordKey): Promise<boolean> {
    try {
      return (await readdir(slotsDir)).some((n) => SLOT_FILE.test(n));
    } catch (e) {
      if (code(e) === 'ENOENT') return false;
      throw this.#mapError(e, 'list', prefix);
    }
  }

  /**
   * remove/removeSlot prune empty directories, so another process's create
   * or write can find its directory gone half-way (ENOENT): do it again.
   */
  async #retryPruned<T>(key: RecordKey, op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (code(e) === 'ENOENT' && attempt < PRUNE_RETRIES) continue;
        throw this.#mapError(e, op, key);
      }
    }
  }

  /**
   * Deletes temp files left by a process that died between writing and
   * linking, and slot locks left by one that died while writing, so their
   * directory can be pruned. Only old ones: a live writer whose temp vanished
   * would just retry, but there is no need to make it, and a live writer's
   * lock must stay.
   */
  async #sweepTemps(slotsDir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(slotsDir);
    } catch {
      return;
    }
    const before = Date.now() - STALE_TEMP_MS;
    for (const name of names) {
      if (name.endsWith(LOCK_SUFFIX)) {
        await breakStaleLock(join(slotsDir, name)).catch(() => {});
        continue;
      }
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const file = join(slotsDir, name);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtimeMs < before) await unlink(file).catch(() => {});
    }
  }

  /** Removes `dir` and its parents while they are empty, never the root. Best effort. */
  async #prune(dir: string): Promise<void> {
    for (let d = dir; d !== this.dir && d.startsWith(this.dir + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (ENOTEMPTY/EEXIST), already gone, or not ours to remove
      }
    }
  }

  #serialised<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#writeQueues.get(file) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => {});
    this.#writeQueues.set(file, tail);
    void tail.then(() => {
      if (this.#writeQueues.get(file) === tail) this.#writeQueues.delete(file);
    });
    return next;
  }

  #mapError(e: unknown, op: string, key: RecordKey): RunOnceError {
    return mapFsError(e, `file backend: ${op} ${keyToString(key)} in ${this.dir}`);
  }
}

let tempCounter = 0;

/**
 * Unique among this process's temp files (the counter) and across a reused
 * pid (the random part); not a secret, and `open(…, 'wx')` refuses a clash.
 * Deliberately not node:crypto: loading it costs ~7 ms on every `runonce
 * exec`, the skip path included.
 */
function tempSuffix(): string {
  const random = Math.floor(Math.random() * 0x1000000)
    .toString(16)
    .padStart(6, '0');
  tempCounter = (tempCounter + 1) % 0x1000000;
  return `${random}${tempCounter.toString(16).padStart(6, '0')}`;
}

/** The identity of a lock file we created, so we never delete one that replaced it after ours was broken. */
interface HeldLock {
  readonly path: string;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
}

/**
 * Takes a slot lock: O_CREAT|O_EXCL succeeds for exactly one process. On
 * EEXIST, breaks the lock if its holder died (stale) or pauses 1–5 ms, growing
 * to 50 ms, jittered so waiting processes do not retry in step.
 */
async function acquireLock(path: string): Promise<HeldLock> {
  // On the monotonic clock: a wall clock stepped by NTP must not end (or stretch) the wait.
  const deadline = systemClock.monotonic() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    let handle: OpenFile;
    try {
      handle = await open(path, 'wx', FILE_MODE);
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
      if (await breakStaleLock(path)) continue;
      if (systemClock.monotonic() > deadline) {
        throw new BackendUnavailableError(
          `file backend: slot lock ${path} held for over ${LOCK_WAIT_MS / 1000} s by a writer that is stuck, or its clock is ahead; delete it if no runonce is writing`,
        );
      }
      await pauseBefore(BACKOFF.fileLock, attempt, { clock: systemClock, random: Math.random });
      continue;
    }
    try {
      const info = await handle.stat({ bigint: true });
      return { path, ino: info.ino, mtimeNs: info.mtimeNs };
    } catch (e) {
      await unlink(path).catch(() => {});
      throw e;
    } finally {
      await handle.close();
    }
  }
}

/** Deletes our lock, unless a writer that found it stale broke it and its lock is there now. */
async function releaseLock(lock: HeldLock): Promise<void> {
  const info = await stat(lock.path, { bigint: true }).catch(() => undefined);
  if (info?.ino === lock.ino && info.mtimeNs === lock.mtimeNs) await unlink(lock.path).catch(() => {});
}

/**
 * Breaks the lock at `path` if it is stale: true when it is gone (broken here
 * or released meanwhile), so take it again now. It is renamed away, not
 * unlinked: rename() is atomic, so of two breakers only one moves it. A
 * breaker overtaken between its stat() and its rename() moves the NEXT,
 * fresh lock instead; it sees that (another inode or mtime) and links it back.
 * Only if a third writer took the free name in those few syscalls do two
 * writers overlap, and only right after a writer died holding a lock.
 */
async function breakStaleLock(path: string): Promise<boolean> {
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch (e) {
    if (code(e) === 'ENOENT') return true;
    throw e;
  }
  if (Date.now() - Number(info.mtimeMs) < STALE_LOCK_MS) return false;
  const aside = join(dirname(path), `${TEMP_PREFIX}${process.pid}-${tempSuffix()}-broken`);
  try {
    await rename(path, aside);
  } catch (e) {
    if (code(e) === 'ENOENT') return true;
    throw e;
  }
  const moved = await stat(aside, { bigint: true }).catch(() => undefined);
  if (moved && (moved.ino !== info.ino || moved.mtimeNs !== info.mtimeNs)) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
  return true;
}

export function createFileBackend(options: FileBackendOptions): FileBackend {
  return new FileBackend(options);
}

function isSegment(value: unknown): value is string {
  return isKeySegment(value) && value !== '.' && value !== '..';
}

function checkValue(value: JsonObject): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('file backend: a slot value must be a JSON object');
  }
}

function serialise(version: number, value: JsonObject): string {
  checkValue(value);
  return JSON.stringify({ version, value });
}

function code(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as { code?: unknown }).code as string | undefined) : undefined;
}

/** Makes a new or replaced directory entry durable. Some platforms cannot fsync a directory. */
async function syncDir(dir: string): Promise<void> {
  let handle: OpenFile | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    if (!['EINVAL', 'EISDIR', 'ENOTSUP', 'EPERM', 'EBADF'].includes(code(e) ?? '')) throw e;
  } finally {
    await handle?.close();
  }
}

/**
 * Filesystem errors as core's typed errors. A missing or non-directory root,
 * a read-only or full disk: the store is unusable, so the task must not run.
 * @internal exported for tests
 */
export function mapFsError(e: unknown, context: string): RunOnceError {
  if (RunOnceError.is(e)) return e;
  const c = code(e);
  const message = `${context}: ${e instanceof Error ? e.message : String(e)}`;
  switch (c) {
    case 'EACCES':
    case 'EPERM':
      return new AccessDeniedError(message, { cause: e });
    case 'EISDIR':
      return new CorruptStateError(message, { cause: e });
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EROFS':
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EIO':
    case 'EMFILE':
    case 'ENFILE':
    case 'ELOOP':
    case 'ENAMETOOLONG':
      return new BackendUnavailableError(message, { cause: e });
    default:
      return new BackendUnavailableError(`${message} (unexpected filesystem error)`, { cause: e });
  }
}
