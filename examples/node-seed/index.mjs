// A Node app that seeds its database on first start with runonce.run: four
// instances of the app boot at once, exactly one seeds, the others wait for
// the seed to finish before they serve, and an instance started later skips.
//
//   pnpm example node-seed
//
// Each instance is its own process, as on a fleet. The store is the file
// backend in a temp dir; RUNONCE_BACKEND=redis (with RUNONCE_REDIS_URL) makes
// them race through a Redis server instead.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// The "database": a JSON file. The seed stores the fencing token with its
// writes and refuses to write under a lower token than the one stored, so a
// seeder that lost its lease (and was taken over) cannot overwrite newer data.
async function seedCatalog(dir, { fencingToken, signal, owner }) {
  const db = join(dir, 'db.json');
  const current = existsSync(db) ? JSON.parse(readFileSync(db, 'utf8')) : { token: 0 };
  if (current.token > fencingToken) throw new Error(`stale fencing token ${fencingToken} < ${current.token}`);
  appendFileSync(join(dir, 'seed.log'), `${owner} token=${fencingToken}\n`);
  for (const product of ['espresso', 'lungo', 'ristretto']) {
    signal.throwIfAborted(); // the lease was lost: stop writing
    await sleep(300);
    current.products = [...(current.products ?? []), product];
  }
  writeFileSync(db, JSON.stringify({ ...current, token: fencingToken }));
  return current.products.length;
}

// One app instance: seed (or wait for the seed), then "serve".
async function instance(dir, namespace, owner) {
  const runonce = new RunOnce({ backend: await openBackend(dir), namespace, owner });
  try {
    const outcome = await runonce.run('seed-catalog', (ctx) => seedCatalog(dir, { ...ctx, owner }), {
      lease: '10s',
      waitTimeout: '1m',
    });
    const products = JSON.parse(readFileSync(join(dir, 'db.json'), 'utf8')).products.length;
    console.log(JSON.stringify({ owner, ranHere: outcome.ranHere, seededBy: outcome.owner, products }));
  } finally {
    await runonce.close();
  }
}

function start(dir, namespace, owner) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, 'instance', dir, namespace, owner], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${owner} exited with ${code}`)),
    );
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'runonce-node-seed-'));
  const namespace = `example-seed-${process.pid}`;
  try {
    console.log('== 4 app instances start at once');
    const fleet = await Promise.all(['web-1', 'web-2', 'web-3', 'web-4'].map((o) => start(dir, namespace, o)));
    for (const r of fleet)
      console.log(`  ${r.owner}: ${r.ranHere ? 'seeded' : `waited for ${r.seededBy}`}, serves ${r.products} products`);
    console.log('== a fifth instance starts later (scale-out)');
    const late = await start(dir, namespace, 'web-5');
    console.log(`  web-5: ${late.ranHere ? 'seeded (wrong!)' : `skipped, seeded by ${late.seededBy}`}`);

    const seeds = readFileSync(join(dir, 'seed.log'), 'utf8').trim().split('\n');
    const seeders = fleet.filter((r) => r.ranHere);
    const problems = [
      seeds.length !== 1 && `the seed ran ${seeds.length} times: ${seeds.join('; ')}`,
      seeders.length !== 1 && `${seeders.length} instances report seeding`,
      late.ranHere && 'the late instance seeded again',
      [...fleet, late].some((r) => r.products !== 3) && 'an instance served before the seed finished',
    ].filter(Boolean);
    if (problems.length > 0) {
      console.error(`FAIL: ${problems.join('; ')}`);
      process.exitCode = 1;
      return;
    }
    console.log(`ok: seed ran once (${seeds[0]}); every instance served the seeded catalog`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'instance') await instance(process.argv[3], process.argv[4], process.argv[5]);
else await main();
