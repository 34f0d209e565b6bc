// A cron job guarded by runonce's withLock: the nightly report is scheduled
// every minute on two hosts, and a run can take longer than the interval.
// Overlapping runs must not overlap: a run that finds the previous one still
// going skips (onBusy: 'skip'), and an operator's manual run waits for it
// (onBusy: 'wait') and then runs with a higher fencing token.
//
//   pnpm example cron-lock
//
// Each run is its own process, as cron starts them. The store is the file
// backend in a temp dir; RUNONCE_BACKEND=redis (with RUNONCE_REDIS_URL) uses
// a Redis server, which makes the lock hold across hosts.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileBackend, RunOnce } from '@runonce/core';

async function openBackend(dir) {
  if (process.env.RUNONCE_BACKEND === 'redis') {
    const { createRedisBackend } = await import('@runonce/backend-redis');
    return createRedisBackend({ url: process.env.RUNONCE_REDIS_URL });
  }
  return new FileBackend({ dir: join(dir, 'state') });
}

// One cron run: build the report under the lock. The journal records start
// and end with the fencing token, so main() can check that no two overlap.
async function cronRun(dir, namespace, who, onBusy) {
  const runonce = new RunOnce({ backend: await openBackend(dir), namespace, owner: who });
  const journal = join(dir, 'journal.log');
  try {
    const outcome = await runonce.withLock(
      'nightly-report',
      async ({ fencingToken, signal }) => {
        appendFileSync(journal, `start ${who} ${fencingToken} ${Date.now()}\n`);
        await sleep(1500, undefined, { signal }); // building the report; aborted if the lease is lost
        appendFileSync(journal, `end ${who} ${fencingToken} ${Date.now()}\n`);
        return fencingToken;
      },
      { lease: '3s', onBusy, waitTimeout: '30s' },
    );
    console.log(JSON.stringify({ who, acquired: outcome.acquired, token: outcome.acquired ? outcome.result : null }));
  } finally {
    await runonce.close();
  }
}

function run(dir, namespace, who, onBusy) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, 'run', dir, namespace, who, onBusy], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${who} exited ${code}`))));
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-cron-lock-'));
  const namespace = `example-cron-${process.pid}`;
  try {
    console.log('== 00:00 cron on host-a; 00:00.5 cron on host-b (skip if busy); 00:00.7 a manual run (wait)');
    const a = run(dir, namespace, 'cron@host-a', 'skip');
    await sleep(500);
    const b = run(dir, namespace, 'cron@host-b', 'skip');
    await sleep(200);
    const manual = run(dir, namespace, 'manual@host-b', 'wait');
    const results = await Promise.all([a, b, manual]);
    for (const r of results)
      console.log(`  ${r.who}: ${r.acquired ? `ran with fencing token ${r.token}` : 'lock held elsewhere, skipped'}`);

    const journal = readFileSync(join(dir, 'journal.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    console.log(journal.map((e) => `  ${e.slice(0, 3).join(' ')}`).join('\n'));
    const [ra, rb, rm] = results;
    const starts = journal.filter((e) => e[0] === 'start').length;
    // Runs never overlap: the journal alternates start/end of the same run.
    const nested = journal.some((e, i) =>
      i % 2 === 0 ? e[0] !== 'start' : e[0] !== 'end' || e[1] !== journal[i - 1][1],
    );
    const problems = [
      !ra.acquired && 'the first cron run did not get the lock',
      rb.acquired && 'the overlapping cron run did not skip',
      !rm.acquired && 'the manual run did not wait for the lock',
      rm.acquired && ra.acquired && rm.token <= ra.token && 'fencing tokens did not increase',
      starts !== 2 && `the report ran ${starts} times, expected 2`,
      nested && 'two runs overlapped',
    ].filter(Boolean);
    if (problems.length > 0) {
      console.error(`FAIL: ${problems.join('; ')}`);
      process.exitCode = 1;
      return;
    }
    console.log('ok: cron runs never overlapped; the overlapping run skipped, the manual run waited (token increased)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'run') await cronRun(...process.argv.slice(3, 7));
else await main();
