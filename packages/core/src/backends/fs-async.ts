/**
 * The few promise-returning file operations the file backend uses, made
 * over Node's callback API. `node:fs/promises` would do the same, but loading
 * it costs about 5 ms (it pulls in readline, the fs watchers and os), paid
 * by every `runonce exec` on the skip path, where the callback API is
 * already loaded with Node itself.
 */
import type { BigIntStats, Dirent, MakeDirectoryOptions, RmOptions, Stats } from 'node:fs';

const fs = process.getBuiltinModule('node:fs');

type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

function call<T>(start: (done: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

export const mkdir = (path: string, options: MakeDirectoryOptions & { recursive: true }): Promise<string | undefined> =>
  call((done) => fs.mkdir(path, options, done));

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
