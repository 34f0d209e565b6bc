import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBackend } from './file.js';

/**
 * Several PROCESSES writing one slot at once (an operator's `runonce release
 * --force` during the owner's heartbeat). The per-process write queue cannot
 * help here; only the on-disk slot lock can. The children run the built
 * package, so this tests dist/: `pnpm --filter @runonce/core build` first.
 */
const here = dirname(fileURLToPath(import.meta.url));
const distFile = join(here, '..', '..', 'dist', 'backends', 'file.js');
const distIndex = join(here, '..', '..', 'dist', 'index.js');

const PROCESSES = 6;
const WRITES = 50;

/** A child: builds its backend, says ready, waits for go, writes WRITES times, prints the versions it got. */
const WORKER = `
import { createInterface } from 'node:readline';
const [, moduleUrl, dir, writes] = process.argv;
const { FileBackend } = await import(moduleUrl);
const backend = new FileBackend({ dir });
const key = ['ns', 'task', 'scope'];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
process.stdout.write('ready\\n');
if ((await lines.next()).value !== 'go') throw new Error('expected go');
const versions = [];
for (let i = 0; i < Number(writes); i++) versions.push(await backend.write(key, 1, { pid: process.pid, i }));
await backend.close();
process.stdout.write(JSON.stringify(versions) + '\\n', () => process.exit(0));
`;

let root: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'runonce-file-race-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

interface Worker {
  readonly ready: Promise<void>;
  readonly versions: Promise<number[]>;
  go(): void;
}

function startWorker(dir: string): Worker {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', WORKER, pathToFileURL(distIndex).href, dir, String(WRITES)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<never>((_, reject) =>
    child.on('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}): ${stderr}`))),
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const next = await Promise.race([lines.next(), exited]);
    if (next.done) throw new Error(`worker closed stdout: ${stderr}`);
    return next.value as string;
  };
  const ready = line().then((l) => {
    if (l !== 'ready') throw new Error(`expected ready, got ${l}`);
  });
  const versions = ready.then(async () => JSON.parse(await line()) as number[]);
  versions.catch(() => {});
  return { ready, versions, go: () => child.stdin?.write('go\n') };
}

describe('FileBackend write across processes', () => {
  it(`counts every write of ${PROCESSES} processes × ${WRITES} writes to one slot exactly once`, async () => {
    const [built, source] = await Promise.all([stat(distFile).catch(() => undefined), stat(join(here, 'file.ts'))]);
    expect(
      built && built.mtimeMs >= source.mtimeMs,
      `${distFile} is missing or older than file.ts: run pnpm --filter @runonce/core build`,
    ).toBe(true);

    const dir = join(root, 'state');
    const key = ['ns', 'task', 'scope'];
    const backend = new FileBackend({ dir });
    expect(await backend.create(key, 1, { owner: 'a' })).toEqual({ won: true, version: 1 });

    const workers = Array.from({ length: PROCESSES }, () => startWorker(dir));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const all = (await Promise.all(workers.map((w) => w.versions))).flat();

    expect(all).toHaveLength(PROCESSES * WRITES);
    // every write got its own version: none read v and wrote v+1 over another's v+1
    expect(new Set(all).size).toBe(PROCESSES * WRITES);
    expect(Math.min(...all)).toBe(2);
    expect(Math.max(...all)).toBe(1 + PROCESSES * WRITES);
    const [slot] = await backend.read(key);
    expect(slot?.version).toBe(1 + PROCESSES * WRITES);
    await backend.close();
  }, 60_000);
});
