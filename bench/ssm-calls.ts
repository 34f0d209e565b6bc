/**
 * SSM API calls per engine operation, counted with an SDK middleware on the
 * backend's client (every HTTP request, SDK retries included) and checked
 * against the backend's own `onCall` count. Each scenario uses a fresh
 * backend, as a fresh instance of a fleet would.
 *
 *   pnpm --filter @runonce/bench ssm-calls
 *
 * Uses RUNONCE_TEST_SSM_ENDPOINT when set, else LocalStack or a local
 * moto_server (bash scripts/test-services.sh installs it). Writes
 * bench/.out/ssm-calls.json; exits 1 when a goal is missed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { SsmBackend } from '@runonce/backend-ssm';
import { RunOnce } from '@runonce/core';
import { awsTestClientConfig, provideSsm } from '@runonce/test-servers';

const ssm = await provideSsm();
const namespace = `bench-${Date.now().toString(36)}`;

interface Counted {
  backend: SsmBackend;
  http: string[];
  sent: string[];
}

function counted(): Counted {
  const c: Counted = { backend: undefined as unknown as SsmBackend, http: [], sent: [] };
  c.backend = new SsmBackend({
    ...awsTestClientConfig(ssm.url),
    prefix: '/runonce-bench',
    onCall: (command) => c.sent.push(command),
  });
  c.backend.client.middlewareStack.add(
    (next, context) => (args) => {
      c.http.push(String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'benchCallCounter' },
  );
  return c;
}

const rows: { scenario: string; calls: number; detail: string; goal?: number }[] = [];

async function measure(scenario: string, goal: number | undefined, fn: (c: Counted) => Promise<void>): Promise<void> {
  const c = counted();
  await fn(c);
  await c.backend.close();
  if (c.http.join() !== c.sent.join()) {
    throw new Error(`${scenario}: middleware saw ${c.http.join()} but the backend sent ${c.sent.join()}`);
  }
  const tally = new Map<string, number>();
  for (const name of c.http) tally.set(name, (tally.get(name) ?? 0) + 1);
  const detail = [...tally].map(([name, n]) => `${n}× ${name}`).join(', ');
  rows.push({ scenario, calls: c.http.length, detail, ...(goal !== undefined ? { goal } : {}) });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  await measure('claim and finish, explicit scope', 5, async ({ backend }) => {
    const outcome = await new RunOnce({ backend, namespace }).run('migrate', async () => {}, { scope: 'release-1' });
    if (!outcome.ranHere) throw new Error('expected to run');
  });
  await measure('skip (done), explicit scope', 1, async ({ backend }) => {
    const outcome = await new RunOnce({ backend, namespace }).run('migrate', async () => {}, { scope: 'release-1' });
    if (outcome.ranHere) throw new Error('expected to skip');
  });
  await measure('reset (pipeline step: new generation)', 3, async ({ backend }) => {
    await new RunOnce({ backend, namespace }).reset('seed');
  });
  await measure('claim and finish, current generation', 6, async ({ backend }) => {
    const outcome = await new RunOnce({ backend, namespace }).run('seed', async () => {});
    if (!outcome.ranHere) throw new Error('expected to run');
  });
  await measure('skip (done), current generation', 2, async ({ backend }) => {
    const outcome = await new RunOnce({ backend, namespace }).run('seed', async () => {});
    if (outcome.ranHere) throw new Error('expected to skip');
  });

  // heartbeats: a 600 ms task under a 300 ms lease renews every 100 ms
  let heartbeats = 0;
  let claimCalls = 0;
  await measure('heartbeats (per heartbeat, below)', undefined, async (c) => {
    const runonce = new RunOnce({ backend: c.backend, namespace });
    runonce.on('claimed', () => {
      claimCalls = c.http.length;
    });
    runonce.on('heartbeat', () => {
      heartbeats++;
    });
    await runonce.run('beat', () => sleep(600), { scope: 's', lease: '300ms' });
  });
  const beatRow = rows.at(-1);
  if (beatRow && heartbeats > 0) {
    const perBeat = (beatRow.calls - claimCalls - 1) / heartbeats; // minus the claim and the terminal write
    rows.push({ scenario: 'one heartbeat', calls: Math.round(perBeat * 10) / 10, detail: `${heartbeats} heartbeats` });
  }

  // a waiter polls while another instance runs for 3 s
  const holder = counted();
  const running = new RunOnce({ backend: holder.backend, namespace }).run('slow', () => sleep(3000), { scope: 's' });
  await sleep(300);
  let polls = 0;
  await measure('wait 3 s for another instance (per poll, below)', undefined, async (c) => {
    const runonce = new RunOnce({ backend: c.backend, namespace });
    runonce.on('waiting', () => {
      polls++;
    });
    await runonce.run('slow', async () => {}, { scope: 's' });
  });
  await running;
  await holder.backend.close();
  const waitRow = rows.at(-1);
  if (waitRow && polls > 0) {
    rows.push({
      scenario: 'one wait poll',
      calls: Math.round(((waitRow.calls - 1) / polls) * 10) / 10,
      detail: `${polls} polls in ~2.7 s`,
    });
  }
} finally {
  await ssm.stop();
}

const width = Math.max(...rows.map((r) => r.scenario.length));
console.log(`SSM API calls per operation (${ssm.source} endpoint ${ssm.url})\n`);
let missed = false;
for (const r of rows) {
  const verdict =
    r.goal === undefined ? '' : r.calls <= r.goal ? `  (goal ≤ ${r.goal}: met)` : `  (goal ≤ ${r.goal}: MISSED)`;
  if (r.goal !== undefined && r.calls > r.goal) missed = true;
  console.log(`${r.scenario.padEnd(width)}  ${String(r.calls).padStart(4)}  ${r.detail}${verdict}`);
}
mkdirSync(new URL('./.out/', import.meta.url), { recursive: true });
writeFileSync(new URL('./.out/ssm-calls.json', import.meta.url), `${JSON.stringify(rows, null, 2)}\n`);
process.exitCode = missed ? 1 : 0;
