import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROWS = join(tmpdir(), `runonce-fault-suite-${process.pid}.jsonl`);

/** Needs the built CLI; collects the rows the fault tests append and prints them as one table at the end. */
export default function setup() {
  const bundle = fileURLToPath(new URL('../../cli/dist/bundle/runonce.js', import.meta.url));
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`pnpm build\` before the fault suite`);
  rmSync(ROWS, { force: true });
  process.env.RUNONCE_FAULT_ROWS = ROWS;
  return () => {
    if (!existsSync(ROWS)) return;
    const rows = readFileSync(ROWS, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    rmSync(ROWS, { force: true });
    console.log(`\n${formatTable(rows)}\n`);
  };
}

interface Row {
  fault: string;
  backend: string;
  runs: number;
  duplicates: number;
  lostDone: number;
  hangs: number;
  overlaps?: number;
  ms: number;
}

export function formatTable(rows: readonly Row[]): string {
  const head = ['fault', 'backend', 'runs', 'duplicate executions', 'lost done', 'hangs', 'overlapping', 'seconds'];
  const body = rows.map((r) => [
    r.fault,
    r.backend,
    String(r.runs),
    String(r.duplicates),
    String(r.lostDone),
    String(r.hangs),
    r.overlaps === undefined ? '-' : String(r.overlaps),
    (r.ms / 1000).toFixed(1),
  ]);
  const sum = (i: number) => String(body.reduce((s, b) => s + (Number(b[i]) || 0), 0));
  const total = ['TOTAL', '', ...[2, 3, 4, 5, 6].map(sum), ''];
  const all = [head, ...body, total];
  const width = head.map((_, i) => Math.max(...all.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i] ?? 0)).join(' | ')} |`;
  const sep = `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return ['runonce fault suite', line(head), sep, ...body.map(line), sep, line(total)].join('\n');
}
