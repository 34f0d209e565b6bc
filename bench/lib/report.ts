/**
 * Renders one run's results: the terminal table, bench/results.md and
 * bench/results.svg (hand-written SVG, no plotting dependency).
 */
import { BACKOFF, backoffDelay } from '@runonce/core';
import { DOCUMENTED, formatCounts, OPERATIONS, type Operation, sameCounts } from '../parts/calls.ts';
import type { RaceResult, Round } from '../parts/race.ts';
import { SKIP_LABELS, type SkipVariant } from '../parts/skip-cost.ts';
import type { BenchResults, LockContended } from './results.ts';
import { median, quantile } from './stats.ts';

export interface Row {
  section: string;
  measure: string;
  runonce: string;
  baseline: string;
  /** runonce ÷ baseline, or text. */
  ratio: string;
  better: 'lower' | 'higher' | '';
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const perS = (x: number) => `${x.toFixed(0)}/s`;
/** What wakes a waiter on each store in the waiters part. */
const WAKE = { file: 'fs.watch', redis: 'PUBLISH', postgres: 'LISTEN/NOTIFY' } as const;
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const ratio = (a: number, b: number) => (b === 0 ? '—' : `${(a / b).toFixed(2)}`);

function raceTitle(race: RaceResult): string {
  return race.spreadMs === 0
    ? `${race.instances} instances started together on SSM`
    : `${race.instances} instances started over ${s(race.spreadMs)} on SSM`;
}

/** Nominal waiter poll pauses, from core's own schedule (BACKOFF.poll) at the middle of its jitter. */
export function pollPauseInProgress(waitedMs: number): number {
  const pause = (round: number) => backoffDelay(BACKOFF.poll, round, () => 0.5);
  let round = 0;
  let t = 0;
  while (t + pause(round) <= waitedMs) t += pause(round++);
  return pause(round);
}

/** What the ratio table compares for a contended lock, each lower-is-better: label, figure, format. */
function contendedMeasures(contenders: number): [string, (c: LockContended) => number, (x: number) => string][] {
  return [
    ['ask → hold p99', (c) => c.waitMs.p99, ms],
    ['worst ask → hold', (c) => c.waitMs.worst, ms],
    [`busiest contender's share (fair ${pct(1 / contenders)})`, (c) => c.busiestShare, pct],
  ];
}

export function ratioRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  for (const race of r.races) {
    const { handwritten: h, runonce: u } = race;
    const section = `${raceTitle(race)}, median of ${u.length} rounds`;
    const med = (rs: Round[], f: (x: Round) => number) => median(rs.map(f));
    const runs = [med(u, (x) => x.runs), med(h, (x) => x.runs)] as const;
    rows.push({
      section,
      measure: 'times the task ran (goal: 1)',
      runonce: String(runs[0]),
      baseline: `${runs[1]} (hand-written hook.sh)`,
      ratio: ratio(runs[0], runs[1]),
      better: 'lower',
    });
    const early = [med(u, (x) => x.early), med(h, (x) => x.early)] as const;
    rows.push({
      section,
      measure: 'instances that went on before the task had finished',
      runonce: String(early[0]),
      baseline: String(early[1]),
      ratio: early[1] === 0 ? '—' : ratio(early[0], early[1]),
      better: 'lower',
    });
    const wall = [med(u, (x) => x.wallMs), med(h, (x) => x.wallMs)] as const;
    rows.push({
      section,
      measure: `fleet wall time (task takes ${race.taskSeconds} s)`,
      runonce: s(wall[0]),
      baseline: s(wall[1]),
      ratio: ratio(wall[0], wall[1]),
      better: 'lower',
    });
  }
  if (r.skip) {
    const m = r.skip.median;
    const section = `skip path (task already done), one process, median of ${r.skip.runs}`;
    if (m.fileSkip !== undefined && m.node !== undefined) {
      rows.push({
        section,
        measure: 'runonce exec (file) vs bare node -e 0',
        runonce: ms(m.fileSkip),
        baseline: ms(m.node),
        ratio: ratio(m.fileSkip, m.node),
        better: 'lower',
      });
    }
    if (m.fileRun !== undefined && m.node !== undefined) {
      rows.push({
        section,
        measure:
          'runonce exec claiming and running `true` (file; runonce, its keeper and the command) vs bare node -e 0',
        runonce: ms(m.fileRun),
        baseline: ms(m.node),
        ratio: ratio(m.fileRun, m.node),
        better: 'lower',
      });
    }
    if (m.seaSkip !== undefined && m.node !== undefined) {
      const size = r.skip.standaloneBytes === undefined ? '' : `, ${(r.skip.standaloneBytes / 1e6).toFixed(0)} MB`;
      rows.push({
        section,
        measure: `standalone executable exec (file${size}) vs bare node -e 0 (goal <= 1.5)`,
        runonce: ms(m.seaSkip),
        baseline: ms(m.node),
        ratio: ratio(m.seaSkip, m.node),
        better: 'lower',
      });
    }
    if (m.ssmSkip !== undefined && m.node !== undefined) {
      rows.push({
        section,
        measure: 'runonce exec (SSM) vs bare node -e 0',
        runonce: ms(m.ssmSkip),
        baseline: ms(m.node),
        ratio: ratio(m.ssmSkip, m.node),
        better: 'lower',
      });
    }
    if (m.ssmSkip !== undefined && m.awsGet !== undefined) {
      rows.push({
        section,
        measure: 'runonce exec (SSM) vs one aws ssm get-parameter',
        runonce: ms(m.ssmSkip),
        baseline: ms(m.awsGet),
        ratio: ratio(m.ssmSkip, m.awsGet),
        better: 'lower',
      });
    }
  }
  if (r.lock) {
    const [ours, ...others] = r.lock.results;
    const l = r.lock;
    const section = `Redis lock, acquire + release per second (sequential: median of ${l.rounds} rounds; ${l.contenders} contenders holding ${l.holdMs} ms)`;
    const mine = ours?.contended[0];
    if (ours && mine) {
      rows.push({
        section,
        measure: 'sequential, vs 2× PING round trips (the limit)',
        runonce: perS(ours.sequential),
        baseline: perS(l.ping),
        ratio: ours.ofPing.toFixed(2),
        better: 'higher',
      });
      for (const o of others) {
        rows.push({
          section,
          measure: `sequential, vs ${o.name} (${o.context ? `context: ${o.context}` : 'goal >= 1'})`,
          runonce: perS(ours.sequential),
          baseline: perS(o.sequential),
          ratio: o.runonceOverIt.toFixed(2),
          better: 'higher',
        });
        for (const c of o.contended) {
          for (const [what, of, fmt] of contendedMeasures(l.contenders)) {
            rows.push({
              section,
              measure: `${l.contenders} contenders: ${what}, vs ${o.name} (${c.setting})`,
              runonce: fmt(of(mine)),
              baseline: fmt(of(c)),
              ratio: ratio(of(mine), of(c)),
              better: 'lower',
            });
          }
        }
      }
    }
  }
  if (r.readRate) {
    const rr = r.readRate;
    const section = `${rr.waiters} waiters polling a store that cannot wake them (drawn from the poll schedule)`;
    for (const x of rr.rows) {
      rows.push({
        section,
        measure: `${x.store}: requests/s in the busiest second, vs the API's limit`,
        runonce: `${x.peak.toFixed(0)}/s`,
        baseline: `${x.limit}/s`,
        ratio: ratio(x.peak, x.limit),
        better: 'lower',
      });
      rows.push({
        section,
        measure: `${x.store}: requests/s after ${rr.steadyFromS} s (every waiter at the ${BACKOFF.poll.capMs / 1000} s cap), vs the limit`,
        runonce: `${x.steady.toFixed(0)}/s`,
        baseline: `${x.limit}/s`,
        ratio: ratio(x.steady, x.limit),
        better: 'lower',
      });
    }
  }
  const waiterRuns = [
    [r.waiters, r.waitersPollOnly],
    [r.waitersRedis, r.waitersRedisPollOnly],
    [r.waitersPostgres, r.waitersPostgresPollOnly],
  ] as const;
  for (const [w, base] of waiterRuns) {
    if (!w) continue;
    const bound = pollPauseInProgress(w.waitedMs) * 1.25;
    const lat = w.latenciesMs;
    const polled = base?.latenciesMs;
    const p = (l: readonly number[]) => `${ms(quantile(l, 0.5))} / ${ms(quantile(l, 0.95))} / ${ms(Math.max(...l))}`;
    const how = WAKE[w.store ?? 'file'];
    rows.push({
      section: `${w.waiters} waiters (one process each, ${w.store ?? 'file'} backend), after waiting ${s(w.waitedMs)}`,
      measure: `winner's done → waiter exit: p50 / p95 / last (woken by ${how}; baseline: polling only)`,
      runonce: p(lat),
      baseline: polled ? p(polled) : `poll pause ≤ ${ms(bound)}`,
      ratio: ratio(Math.max(...lat), polled ? Math.max(...polled) : bound),
      better: 'lower',
    });
  }
  return rows;
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))) ?? [];
  return cells.map((r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const BACKENDS = ['memory', 'file', 'ssm', 'dynamodb', 'redis'] as const;

function callsCell(r: BenchResults, backend: string, op: Operation): string {
  const c = r.calls[backend]?.[op];
  if (!c) return r.missing[`calls:${backend}`] ? 'n/a' : '';
  return formatCounts(c).replaceAll(' + ', ', ');
}

function callsMatch(r: BenchResults, op: Operation): string {
  const measured = Object.values(r.calls).map((b) => b[op]);
  if (measured.length === 0) return '';
  return measured.every((c) => sameCounts(c, DOCUMENTED[op])) ? 'yes' : 'NO';
}

const SSM_SDK_ROWS: Record<Operation, string> = {
  skip: 'skip (done), current generation',
  claimAndFinish: 'claim and finish, current generation',
  heartbeat: 'one heartbeat',
  waitPoll: 'one wait poll',
};

export function terminalReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `runonce bench — ${m.date}, ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, load ${m.load}`,
  );
  out.push('');
  const rows = ratioRows(r);
  const cells = [['measure', 'runonce', 'baseline', 'runonce ÷ baseline']];
  let section = '';
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section;
      cells.push([section, '', '', '']);
    }
    cells.push([
      `  ${row.measure}`,
      row.runonce,
      row.baseline,
      `${row.ratio}${row.better ? ` (${row.better} is better)` : ''}`,
    ]);
  }
  out.push(...pad(cells));
  out.push('');
  out.push('backend calls per operation (engine primitives; no explicit scope)');
  const present = BACKENDS.filter((b) => r.calls[b] || r.missing[`calls:${b}`]);
  const callCells = [['operation', ...present, 'as documented']];
  for (const op of OPERATIONS) {
    callCells.push([op.label, ...present.map((b) => callsCell(r, b, op.id)), callsMatch(r, op.id)]);
  }
  out.push(...pad(callCells));
  if (r.ssmSdk) {
    out.push('');
    out.push('SSM API requests per operation (SDK middleware, bench/ssm-calls.ts)');
    out.push(
      ...pad([
        ['operation', 'requests', 'detail'],
        ...OPERATIONS.map((op) => {
          const row = r.ssmSdk?.find((x) => x.scenario === SSM_SDK_ROWS[op.id]);
          return [op.label, row ? String(row.calls) : '?', row?.detail ?? ''];
        }),
      ]),
    );
  }
  for (const [part, why] of Object.entries(r.missing)) out.push(`MISSING ${part}: ${why}`);
  return out.join('\n');
}

/** `align`: one letter per column, `l` or `r`; default: the first left, the others right (numbers). */
function mdTable(header: string[], rows: string[][], align?: string): string {
  const esc = (c: string) => c.replaceAll('|', '\\|');
  const right = (i: number) => (align ? align[i] === 'r' : i > 0);
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (right(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function markdownReport(r: BenchResults): string {
  const m = r.machine;
  const parts: string[] = [];
  parts.push('# Benchmarks');
  parts.push(
    [
      'Measured by `pnpm bench` (bench/run.ts) in one run, so every ratio compares numbers taken on the same',
      'machine within minutes of each other. The machine was shared with other work (see the load), so',
      'absolute times are noisy; the ratios are what to read. Rerun it: `bash scripts/test-services.sh && pnpm bench`.',
    ].join('\n'),
  );
  parts.push(
    mdTable(
      ['machine', ''],
      [
        ['date', m.date],
        ['CPU', `${m.cpus} × ${m.cpuModel}`],
        ['memory', `${m.memoryGiB} GiB`],
        ['Node.js', m.node],
        ['load average (1 min) at start', String(m.load)],
        ['SSM', r.setup.ssm],
        ['DynamoDB', r.setup.dynamodb],
        ['Redis', r.setup.redis],
        ...(r.setup.postgres ? [['PostgreSQL', r.setup.postgres]] : []),
        ['AWS CLI (hand-written hook)', r.setup.aws],
        ...(r.durationMs ? [['whole run', `${(r.durationMs / 1000).toFixed(0)} s`]] : []),
      ],
      'll',
    ),
  );
  parts.push('![runonce against the baselines](results.svg)');
  parts.push('## Ratios');
  const table: string[][] = [];
  let section = '';
  for (const row of ratioRows(r)) {
    if (row.section !== section) {
      section = row.section;
      table.push([`**${section}**`, '', '', '']);
    }
    table.push([
      row.measure,
      row.runonce,
      row.baseline,
      `${row.ratio}${row.better ? ` (${row.better} is better)` : ''}`,
    ]);
  }
  parts.push(mdTable(['measure', 'runonce', 'baseline', 'runonce ÷ baseline'], table));
  if (r.races.length) {
    const { instances, taskSeconds } = r.races[0] as RaceResult;
    parts.push(`## ${instances} instances racing on SSM`);
    parts.push(
      [
        `Per round, the "pipeline" resets the task (\`aws ssm put-parameter --value 0\` for the hook,`,
        '`runonce reset` for runonce; not timed), then the bench starts',
        `${instances} copies of [handwritten/hook.sh](handwritten/hook.sh) (get-parameter; if 0, put-parameter 1`,
        `and run) or ${instances} \`runonce exec --backend ssm\` against the same moto server. Both run`,
        `[handwritten/task.sh](handwritten/task.sh) (${taskSeconds} s, then one line in a marker file). "Went on`,
        'early": exited 0 before the task had finished anywhere, i.e. an instance that would start the app on',
        'the old schema. Rounds alternate which side goes first. Started together, every hook reads 0 before',
        'any writes 1 (the check-then-set race); started one after another over a few seconds, as a fleet',
        'reaches the hook, the later hooks read 1 and go on at once (the skip-before-done defect).',
      ].join('\n'),
    );
    for (const race of r.races) {
      parts.push(`${raceTitle(race)}:`);
      parts.push(
        mdTable(
          ['round', 'hand-written: ran', 'went on early', 'wall', 'runonce: ran', 'went on early', 'wall'],
          race.handwritten.map((h, i) => {
            const u = race.runonce[i] as Round;
            return [
              String(i + 1),
              String(h.runs),
              String(h.early),
              s(h.wallMs),
              String(u.runs),
              String(u.early),
              s(u.wallMs),
            ];
          }),
        ),
      );
    }
  }
  if (r.skip) {
    parts.push('## Skip path');
    parts.push(
      [
        'One process per sample, spawned one after another and interleaved (one of each per turn).',
        'The skip path is `runonce exec probe -- true` on a task already done: it reads the generation',
        'pointer and the scope, then exits 0. `aws ssm get-parameter` is what the hand-written hook spends',
        'to learn the same thing. The standalone executable (`pnpm release:pack`, a Node single executable',
        'application with its code cache) runs the same skip on the same state directory, with no Node installed.',
      ].join('\n'),
    );
    parts.push(
      mdTable(
        ['command', 'median', 'p10', 'p90'],
        Object.entries(r.skip.samples).map(([k, xs]) => [
          SKIP_LABELS[k as SkipVariant],
          ms(median(xs)),
          ms(quantile(xs, 0.1)),
          ms(quantile(xs, 0.9)),
        ]),
      ),
    );
  }
  parts.push('## Backend calls per operation');
  parts.push(
    [
      "Counted by wrapping each backend in core's `FaultyBackend` (calls per primitive) and driving the",
      'engine, without an explicit scope, on real servers. The smoke test (bench/test/smoke.test.ts, part',
      'of `pnpm test`) checks memory and file against the numbers docs/backends/README.md gives.',
    ].join('\n'),
  );
  const present = BACKENDS.filter((b) => r.calls[b] || r.missing[`calls:${b}`]);
  parts.push(
    mdTable(
      ['operation', ...present, 'as documented'],
      OPERATIONS.map((op) => [op.label, ...present.map((b) => callsCell(r, b, op.id)), callsMatch(r, op.id)]),
      'l'.repeat(present.length + 2),
    ),
  );
  if (r.ssmSdk) {
    parts.push('SSM API requests underneath (an SDK middleware counts every HTTP request; bench/ssm-calls.ts):');
    parts.push(
      mdTable(
        ['scenario', 'requests', 'detail'],
        r.ssmSdk.map((x) => [x.scenario, String(x.calls), x.detail]),
        'lrl',
      ),
    );
  }
  if (r.lock) {
    const l = r.lock;
    parts.push('## Redis lock');
    parts.push(
      `bench/redis-lock.ts: each library on its own ioredis connection to the same redis-server. **Sequential**: one caller locking and unlocking in a loop, never contended, in ${l.rounds} rounds of ${l.roundMs} ms; each round runs every library once, and two \`PING\` round trips on a connection of their own, in a rotating order. A cycle whose release is awaited is two round trips in every library (runonce: create-if-next and the release write, each one Lua script; redis-semaphore: \`SET NX PX\` and a Lua release; redlock: a Lua acquire and a Lua release), so two PINGs per second is its limit. runonce's \`withLock\` sends its release and does not wait for the answer on an ordered store (Redis: one connection, so its next acquire goes out behind the release): a cycle then waits for one round trip. For a like-for-like view, runonce with its release awaited (\`lock()\` + \`release()\`) and each peer with its release not awaited are shown beside, marked as context. Figures are medians of the rounds, ratios medians of the per-round ratios. Goal: runonce at least 1.0× both peers as each is documented to be used. **Contended**: ${l.contenders} callers looping on one lock name for ${l.seconds} s, each holding it ${l.holdMs} ms; the busiest contender's share of all acquisitions (fair: ${pct(1 / l.contenders)}) and the time from asking to holding. Goal: runonce lowest on p99 and on the worst wait, its busiest share closest to fair. A critical section that finds a second holder fails the run.`,
    );
    parts.push(
      mdTable(
        ['sequential', 'cycles/s', 'of 2× PING', 'runonce ÷ it'],
        [
          ['2× PING (the limit)', perS(l.ping), '1.00', ''],
          ...l.results.map((x, i) => [
            x.context ? `${x.name} (context: ${x.context})` : x.name,
            perS(x.sequential),
            x.ofPing.toFixed(2),
            i === 0 ? '' : `${x.runonceOverIt.toFixed(2)}×`,
          ]),
        ],
        'lrrr',
      ),
    );
    parts.push(
      mdTable(
        ['contended', 'setting', 'cycles/s', 'busiest share', 'p50', 'p99', 'worst', 'settings'],
        l.results.flatMap((x) =>
          x.contended.map((c) => [
            x.name,
            c.setting,
            perS(c.perSecond),
            pct(c.busiestShare),
            ms(c.waitMs.p50),
            ms(c.waitMs.p99),
            ms(c.waitMs.worst),
            c.settings,
          ]),
        ),
        'llrrrrrl',
      ),
    );
  }
  if (r.readRate) {
    const rr = r.readRate;
    parts.push(`## ${rr.waiters} waiters on SSM, DynamoDB and S3`);
    parts.push(
      `These stores cannot wake a waiter, so waiters poll. bench/parts/read-rate.ts draws ${rr.waiters} waiters that start within the same second and poll on the engine's schedule (core's \`BACKOFF.poll\`: 250 ms growing ×1.5 to 5 s, ±25 % jitter), one read per poll, over ${rr.seconds} s, and counts requests per second. A drawing, not a measurement against AWS: the limits are AWS's documented defaults (docs/backends/). SSM's default read limit is the one a fleet this size meets: about 200 waiters at the 5 s cap is its 40/s, and the first seconds are far above it (the reads are throttled and retried; docs/backends/ssm.md says what that costs).`,
    );
    parts.push(
      mdTable(
        ['store', 'requests per read', 'busiest second', `after ${rr.steadyFromS} s`, 'limit'],
        rr.rows.map((x) => [
          x.store,
          String(x.requestsPerRead),
          `${x.peak.toFixed(0)}/s`,
          `${x.steady.toFixed(0)}/s`,
          x.limitText,
        ]),
        'lrrrl',
      ),
    );
  }
  if (r.waiters) {
    const w = r.waiters;
    const lat = w.latenciesMs;
    parts.push(`## ${w.waiters} waiters`);
    parts.push(
      [
        `${w.waiters} \`runonce exec\` processes (one process each; file, then Redis, then PostgreSQL) wait on a task this process`,
        `holds through the engine; once all say they are waiting it holds ${s(w.holdMs)} more and finishes. The clock`,
        "starts at the engine's `done` event (after the done write) and stops at each waiter's exit, both on",
        "this process's monotonic clock. Waiters poll at 250 ms growing ×1.5 with ±25 % jitter to a 5 s cap,",
        `so after ${s(w.waitedMs)} of waiting a polling waiter may sleep up to ${ms(pollPauseInProgress(w.waitedMs) * 1.25)} before it looks again.`,
        "Each backend's `watch` wakes them when the record changes (file: fs.watch on the record's directory;",
        'Redis: the PUBLISH in every write script; PostgreSQL: the NOTIFY of the trigger `runonce init` installs);',
        'the baseline, measured first in the same run, is the same backend without its watch (polls only).',
        'Goal: the last waiter out within 1 s of the done write.',
      ].join('\n'),
    );
    const table: string[][] = [];
    const row = (label: string, l: readonly number[] | undefined) => {
      if (l) table.push([label, ms(quantile(l, 0.5)), ms(quantile(l, 0.95)), ms(Math.max(...l))]);
    };
    row('file, polling only (baseline)', r.waitersPollOnly?.latenciesMs);
    row('file, woken by fs.watch', lat);
    row('redis, polling only (baseline)', r.waitersRedisPollOnly?.latenciesMs);
    row('redis, woken by PUBLISH', r.waitersRedis?.latenciesMs);
    row('postgres, polling only (baseline)', r.waitersPostgresPollOnly?.latenciesMs);
    row('postgres, woken by LISTEN/NOTIFY', r.waitersPostgres?.latenciesMs);
    if (table.length > 1) parts.push(mdTable(['waiters', 'p50', 'p95', 'last'], table));
    parts.push(
      mdTable(
        ['p10', 'p50', 'p90', 'p95', 'last'],
        [
          [
            ms(quantile(lat, 0.1)),
            ms(quantile(lat, 0.5)),
            ms(quantile(lat, 0.9)),
            ms(quantile(lat, 0.95)),
            ms(Math.max(...lat)),
          ],
        ],
      ),
    );
  }
  const missing = Object.entries(r.missing);
  if (missing.length) {
    parts.push('## Not measured in this run');
    parts.push(missing.map(([k, v]) => `- ${k}: ${v}`).join('\n'));
  }
  return `${parts.join('\n\n')}\n`;
}

// ---- SVG ----------------------------------------------------------------------

interface Bar {
  label: string;
  value: number;
  text: string;
  ours?: boolean;
}

const W = 800;
const LABEL_W = 250;
const BAR_W = 390;
const ROW_H = 22;
const OURS = '#2f6fdf';
const THEIRS = '#9aa3ad';

function xmlEscape(t: string): string {
  return t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function barPanel(y: number, title: string, bars: Bar[]): { svg: string; height: number } {
  const top = Math.max(...bars.map((b) => b.value), 1e-9);
  const lines = [`<text x="10" y="${y + 16}" class="t">${xmlEscape(title)}</text>`];
  bars.forEach((b, i) => {
    const by = y + 26 + i * ROW_H;
    const w = Math.max(1, (b.value / top) * BAR_W);
    lines.push(
      `<text x="${LABEL_W - 8}" y="${by + 14}" class="l" text-anchor="end">${xmlEscape(b.label)}</text>`,
      `<rect x="${LABEL_W}" y="${by + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${b.ours ? OURS : THEIRS}"/>`,
      `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${by + 14}" class="v">${xmlEscape(b.text)}</text>`,
    );
  });
  return { svg: lines.join('\n'), height: 26 + bars.length * ROW_H + 14 };
}

function stripPanel(
  y: number,
  title: string,
  values: number[],
  lines: { at: number; label: string }[],
): { svg: string; height: number } {
  const h = 110;
  const top = Math.max(...values, ...lines.map((l) => l.at));
  const base = y + 26 + h;
  const step = BAR_W / values.length;
  const out = [`<text x="10" y="${y + 16}" class="t">${xmlEscape(title)}</text>`];
  out.push(`<text x="${LABEL_W - 8}" y="${base}" class="l" text-anchor="end">each bar is one waiter, sorted</text>`);
  values.forEach((v, i) => {
    const bh = (v / top) * h;
    out.push(
      `<rect x="${(LABEL_W + i * step).toFixed(1)}" y="${(base - bh).toFixed(1)}" width="${Math.max(1, step - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${OURS}"/>`,
    );
  });
  // labels at least 13 px apart, so close lines stay readable
  const placed = lines.map((l) => ({ ...l, y: base - (l.at / top) * h })).sort((a, b) => a.y - b.y);
  let last = -Infinity;
  for (const l of placed) {
    const ly = l.y;
    const ty = Math.max(ly + 4, last + 13);
    last = ty;
    out.push(
      `<line x1="${LABEL_W}" x2="${LABEL_W + BAR_W}" y1="${ly.toFixed(1)}" y2="${ly.toFixed(1)}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
      `<text x="${LABEL_W + BAR_W + 6}" y="${ty.toFixed(1)}" class="v">${xmlEscape(l.label)}</text>`,
    );
  }
  return { svg: out.join('\n'), height: 26 + h + 30 };
}

export function svgReport(r: BenchResults): string {
  const panels: ((y: number) => { svg: string; height: number })[] = [];
  for (const race of r.races) {
    const { handwritten: h, runonce: u } = race;
    const med = (rs: Round[], f: (x: Round) => number) => median(rs.map(f));
    const bars: Bar[] = [];
    for (const [label, rs, ours] of [
      ['hand-written hook.sh', h, false],
      ['runonce exec', u, true],
    ] as const) {
      const runs = med(rs, (x) => x.runs);
      const early = med(rs, (x) => x.early);
      bars.push({ label: `${label}: ran`, value: runs, text: `${runs}×`, ours });
      bars.push({ label: `${label}: went on early`, value: early, text: String(early), ours });
    }
    panels.push((y) => barPanel(y, `${raceTitle(race)}: task runs (goal 1); went on before it finished`, bars));
    const wallH = med(h, (x) => x.wallMs);
    const wallU = med(u, (x) => x.wallMs);
    panels.push((y) =>
      barPanel(y, `… fleet wall time, first start to last exit (task takes ${race.taskSeconds} s; medians)`, [
        { label: 'hand-written hook.sh', value: wallH, text: s(wallH) },
        { label: 'runonce exec', value: wallU, text: s(wallU), ours: true },
      ]),
    );
  }
  if (r.skip) {
    const m = r.skip.median;
    const order: SkipVariant[] = ['node', 'fileSkip', 'seaSkip', 'ssmSkip', 'awsGet'];
    const bars = order
      .filter((k) => m[k] !== undefined)
      .map((k) => ({
        label: SKIP_LABELS[k],
        value: m[k] as number,
        text: ms(m[k] as number),
        ours: k !== 'node' && k !== 'awsGet',
      }));
    panels.push((y) => barPanel(y, `Skip path: one process, task already done (median of ${r.skip?.runs})`, bars));
  }
  if (r.lock) {
    const l = r.lock;
    panels.push((y) =>
      barPanel(y, 'Redis lock: acquire + release per second, one caller (median of rounds)', [
        { label: '2× PING (the limit)', value: l.ping, text: perS(l.ping), ours: false },
        ...l.results.map((x, i) => ({ label: x.name, value: x.sequential, text: perS(x.sequential), ours: i === 0 })),
      ]),
    );
    const contended = l.results.flatMap((x, i) => x.contended.map((c) => ({ x, c, ours: i === 0 })));
    panels.push((y) =>
      barPanel(
        y,
        `Redis lock: worst wait from asking to holding, ${l.contenders} contenders (lower is better)`,
        contended.map(({ x, c, ours }) => ({
          label: `${x.name} (${c.setting})`,
          value: c.waitMs.worst,
          text: ms(c.waitMs.worst),
          ours,
        })),
      ),
    );
  }
  if (r.waiters) {
    const w = r.waiters;
    const lat = w.latenciesMs;
    panels.push((y) =>
      stripPanel(y, `${w.waiters} waiters: from the winner's done write to each waiter's exit (ms)`, lat, [
        {
          at: pollPauseInProgress(w.waitedMs) * 1.25,
          label: `max pause ${ms(pollPauseInProgress(w.waitedMs) * 1.25)}`,
        },
        { at: Math.max(...lat), label: `last ${ms(Math.max(...lat))}` },
        { at: quantile(lat, 0.5), label: `p50 ${ms(quantile(lat, 0.5))}` },
      ]),
    );
  }
  let y = 40;
  const bodies: string[] = [];
  for (const p of panels) {
    const { svg, height } = p(y);
    bodies.push(svg);
    y += height;
  }
  const m = r.machine;
  const header = `runonce bench, ${m.date}: ${m.cpus} × ${m.cpuModel}, Node ${m.node} (blue: runonce)`;
  const title = `runonce against the hand-written SSM flag, node -e 0, aws ssm get-parameter and two Redis lock libraries (${m.date})`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" viewBox="0 0 ${W} ${y + 10}" role="img" aria-label="${xmlEscape(title)}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    `<title>${xmlEscape(title)}</title>`,
    '<style>.t{font-size:13px;font-weight:600;fill:#222}.l{font-size:12px;fill:#333}.v{font-size:12px;fill:#111}.h{font-size:12px;fill:#666}</style>',
    `<rect width="${W}" height="${y + 10}" fill="#fff"/>`,
    `<text x="10" y="22" class="h">${xmlEscape(header)}</text>`,
    ...bodies,
    '</svg>',
    '',
  ].join('\n');
}
