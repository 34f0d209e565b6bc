/**
 * The few promise-returning file operations the file backend uses, made
 * over Node's callback API. `node:fs/promises` would do the same, but loading
 * it costs about 5 ms (it pulls in readline, the fs watchers and os), paid
 * by every `runonce exec` on the skip path, where the callback API is
 * already loaded with Node itself.
 */
import type { BigIntStats, Dirent, RmOptions, Stats } from 'node:fs';
import { dirname } from 'node:path';

const fs = process.getBuiltinModule('node:fs');

type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

function call<T>(start: (done: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

const mkdirOne = (path: string, mode: number): Promise<void> =>
  call<void>((done) => fs.mkdir(path, { mode }, (e) => done(e, undefined)));

/**
 * `mkdir -p`, one level at a time; returns the first directory it made, as
 * Node's `recursive: true` does. Not that option itself: where mkdir answers
 * ENOENT under a parent that exists (/proc, sysfs), Node's recursive mkdir
 * climbs to the parent, finds it there, tries the child again, and so spins
 * for ever on a thread of its pool, where no signal can stop it. Here such a
 * mkdir fails, as do a path through a regular file (ENOTDIR) and a
 * read-only or forbidden place (EROFS, EACCES).
 */
export async function mkdirs(path: string, mode: number): Promise<string | undefined> {
  const missing: string[] = [];
  for (let dir = path; ; ) {
    const info = await stat(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (info) {
      if (!info.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}' (${dir} is a file)`), {
          code: 'ENOTDIR',
          path: dir,
        });
      }
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    missing.push(dir);
    dir = parent;
  }
  let first: string | undefined;
  for (const dir of missing.reverse()) {
    try {
      await mkdirOne(dir, mode);
      first ??= dir;
    } catch (e) {
      // another process made it meanwhile: fine, it is a directory or the next level fails
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return first;
}

export const readFile = (path: string, encoding: 'utf8'): Promise<string> =>
  call((done) => fs.readFile(path, encoding, done));

export function readdir(path: string): Promise<string[]>;
export function readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
export function readdir(path: string, options?: { withFileTypes: true }): Promise<string[] | Dirent[]> {
  if (options) return call<Dirent[]>((done) => fs.readdir(path, options, done));
  return call<string[]>((done) => fs.readdir(path, done));
}

export const link = (existing: string, path: string): Promise<void> =>
  call<void>((done) => fs.link(existing, path, (e) => done(e, undefined)));

export const rename = (from: string, to: string): Promise<void> =>
  call<void>((done) => fs.rename(from, to, (e) => done(e, undefined)));

export const unlink = (path: string): Promise<void> => call<void>((done) => fs.unlink(path, (e) => done(e, undefined)));

export const rmdir = (path: string): Promise<void> => call<void>((done) => fs.rmdir(path, (e) => done(e, undefined)));

export const rm = (path: string, options: RmOptions): Promise<void> =>
  call<void>((done) => fs.rm(path, options, (e) => done(e, undefined)));

export function stat(path: string): Promise<Stats>;
export function stat(path: string, options: { bigint: true }): Promise<BigIntStats>;
export function stat(path: string, options?: { bigint: true }): Promise<Stats | BigIntStats> {
  if (options) return call<BigIntStats>((done) => fs.stat(path, options, done));
  return call<Stats>((done) => fs.stat(path, done));
}

/** An open file: the part of `fs/promises`' FileHandle the backend uses. */
export interface OpenFile {
  writeFile(text: string, encoding: 'utf8'): Promise<void>;
  sync(): Promise<void>;
  stat(options: { bigint: true }): Promise<BigIntStats>;
  close(): Promise<void>;
}

export async function open(path: string, flags: string, mode?: number): Promise<OpenFile> {
  const fd = await call<number>((done) => fs.open(path, flags, mode, done));
  return {
    writeFile: (text, encoding) => call<void>((done) => fs.writeFile(fd, text, encoding, (e) => done(e, undefined))),
    sync: () => call<void>((done) => fs.fsync(fd, (e) => done(e, undefined))),
    stat: (options) => call<BigIntStats>((done) => fs.fstat(fd, options, done)),
    close: () => call<void>((done) => fs.close(fd, (e) => done(e, undefined))),
  };
}
