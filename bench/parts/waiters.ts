/**
 * How soon waiters learn the outcome: N `runonce exec` processes (one process
 * each, file backend) wait on a task that this process holds through the
 * engine. Once every waiter has said it is waiting, the holder keeps the task
 * `holdMs` longer and finishes; the `done` event (emitted after the done write)
 * is the start. Each waiter's exit is timed by this process on the same
 * monotonic clock. Waiters poll at 250 ms growing ×1.5 (±25 % jitter) to a
 * 5 s cap, so the poll interval reached at that point bounds the latency.
 * With `server`, the same on Redis or PostgreSQL instead of the file backend.
 * The waiters' command is `false`: a waiter that ran it would exit 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresBackend } from '@runonce/backend-postgres';
import { RedisBackend } from '@runonce/backend-redis';
import { FileBackend, RunOnce } from '@runonce/core';
import { start } from '../lib/proc.ts';
import { sleep } from '../lib/stats.ts';

export interface WaitersOptions {
  cli: string;
  waiters: number;
  holdMs: number;
  /** The baseline: the same backend without its watch (bench/parts/poll-only-backend.mjs), so waiters only poll. */
  pollOnly?: boolean;
  /** A shared store instead of the file backend. */
  server?: { kind: 'redis' | 'postgres'; url: string };
}

export interface WaitersResult {
  store: 'file' | 'redis' | 'postgres';
  waiters: number;
  holdMs: number;
  /** From the first waiter's spawn to the done write, ms: how long the waiters had been polling. */
  waitedMs: number;
  /** Each waiter's exit after the done write, ms, sorted. */
  latenciesMs: number[];
}

export async function waiters(o: WaitersOptions, log: (line: string) => void): Promise<WaitersResult> {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-waiters-'));
  const namespace = `waiters-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const server = o.server;
  const backend =
    server?.kind === 'redis'
      ? new RedisBackend({ url: server.url })
      : server?.kind === 'postgres'
        ? new PostgresBackend({ url: server.url })
        : new FileBackend({ dir });
  if (backend instanceof PostgresBackend) await backend.init();
  const engine = new RunOnce({ backend, namespace, owner: 'bench-holder' });
  const env = { ...process.env, RUNONCE_FILE_DIR: dir, RUNONCE_NAMESPACE: namespace, NO_COLOR: '1' };
  const config = join(dir, 'poll-only.json');
  const pollOnly = fileURLToPath(new URL('./poll-only-backend.mjs', import.meta.url));
  const backendOptions = server ?? { kind: 'file', dir };
  writeFileSync(config, JSON.stringify({ backend: pollOnly, backendOptions }));
  const store = server ? ['--backend', server.kind, `--${server.kind}-url`, server.url] : ['--backend', 'file'];
  const backendArgs = o.pollOnly ? ['--config', config] : store;
  let doneAt = Number.NaN;
  engine.on('done', () => {
    doneAt = performance.now();
  });
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let claimed!: () => void;
  const claimedP = new Promise<void>((r) => {
    claimed = r;
  });
  try {
    const running = engine.run(
      'migrate',
      async () => {
        claimed();
        await held;
      },
      { lease: '30s' },
    );
    await claimedP;
    const procs = Array.from({ length: o.waiters }, () =>
      start(process.execPath, [o.cli, 'exec', 'migrate', ...backendArgs, '--', 'false'], env),
    );
    await Promise.all(procs.map((p) => p.stderrMatch(/waiting for/)));
    log(
      `  ${o.waiters} waiters waiting after ${((performance.now() - (procs[0]?.startedAt ?? 0)) / 1000).toFixed(1)} s`,
    );
    await sleep(o.holdMs);
    release();
    await running;
    const exits = await Promise.all(procs.map((p) => p.done));
    const bad = exits.filter((e) => e.code !== 0);
    if (bad.length) throw new Error(`${bad.length} waiters exited non-zero: ${bad[0]?.stderr.slice(-300)}`);
    return {
      store: server?.kind ?? 'file',
      waiters: o.waiters,
      holdMs: o.holdMs,
      waitedMs: doneAt - (procs[0]?.startedAt ?? doneAt),
      latenciesMs: exits.map((e) => e.exitedAt - doneAt).sort((a, b) => a - b),
    };
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
