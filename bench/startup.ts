/**
 * Start-up cost of the skip path: `runonce exec t -- true` on a task that is
 * already done (file backend), against a bare `node -e 0`, spawned side by
 * side (interleaved, so machine noise hits both alike). Prints medians and
 * the ratio; exits 1 when the ratio is above --max-ratio (default 2).
 *
 *   pnpm build && node bench/startup.ts [--runs 40] [--max-ratio 2]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '40' }, 'max-ratio': { type: 'string', default: '2' } },
});
const runs = Number(values.runs);
const maxRatio = Number(values['max-ratio']);
const bin = fileURLToPath(new URL('../packages/cli/bin/runonce.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'runonce-bench-'));
const env = { ...process.env, RUNONCE_FILE_DIR: dir, RUNONCE_NAMESPACE: 'bench', NO_COLOR: '1' };

function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const skip = [bin, 'exec', 't', '--', 'true'];
const bare = ['-e', '0'];
try {
  time(skip); // runs the task once: from here on every exec is the skip path
  // warm the compile cache and the page cache
  for (let i = 0; i < 3; i++) {
    time(skip);
    time(bare);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    b.push(time(bare));
    a.push(time(skip));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const ratio = median(a) / median(b);
  console.log(`node -e 0                         median ${median(b).toFixed(1)} ms  (${runs} runs)`);
  console.log(`runonce exec t -- true (skip)     median ${median(a).toFixed(1)} ms  (${runs} runs)`);
  console.log(`ratio ${ratio.toFixed(2)} (goal <= ${maxRatio})`);
  process.exitCode = ratio <= maxRatio ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
