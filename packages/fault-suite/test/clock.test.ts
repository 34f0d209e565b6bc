import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bounded,
  lines,
  record,
  type Store,
  scratch,
  spawnExec,
  startStore,
  status,
  tally,
  taskCommand,
  until,
} from './harness.js';

/**
 * Wall-clock jumps in real processes, without libfaketime: a preload moves
 * `Date` an hour forward and then an hour back during the run (the owner one
 * way, the waiter the other). Staleness is judged on the monotonic clock, so
 * nothing changes: one run, no takeover. The engine's fake-clock tests
 * (packages/core/src/engine.test.ts "ignores wall-clock jumps", and the model
 * test's wall jumps) cover the interleavings; this checks the real binary.
 */
const PRELOAD = `
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
const t0 = realNow();
const shift = Number(process.env.FAULT_WALL_SHIFT_MS);
const now = () => { const e = realNow() - t0; return realNow() + (e < 400 ? 0 : e < 1500 ? shift : -shift); };
globalThis.Date = class extends RealDate {
  constructor(...a) { if (a.length === 0) super(now()); else super(...a); }
  static now() { return now(); }
};
`;

describe('wall-clock jumps (file backend)', () => {
  let store: Store;
  beforeAll(async () => {
    store = await startStore('file');
  });
  afterAll(() => store?.stop());

  it('the owner’s clock jumps +1 h then −1 h and the waiter’s the other way: one run, no takeover', async () => {
    const t0 = performance.now();
    const dir = scratch();
    const preload = join(dir, 'wall-jump.mjs');
    writeFileSync(preload, PRELOAD);
    const env = store.env();
    const marker = join(dir, 'marker');
    const hour = 3_600_000;
    const jumpy = (shift: number) => ({
      ...env,
      NODE_OPTIONS: `--import=${preload}`,
      FAULT_WALL_SHIFT_MS: String(shift),
    });
    const owner = spawnExec(['exec', 'mig', '--lease', '1s', '--shell', '--', taskCommand(marker, 3)], jumpy(hour));
    await until(() => lines(marker).some((l) => l.startsWith('start 1')), 'the owner to start the command', 20_000);
    const waiter = spawnExec(['exec', 'mig', '--lease', '1s', '--shell', '--', taskCommand(marker, 3)], jumpy(-hour));
    const o = await bounded(owner, 20_000);
    const w = await bounded(waiter, 20_000);
    const s = await status('mig', env);
    const t = tally(marker);
    record({
      fault: 'wall clock ±1 h during the run',
      backend: 'file',
      runs: t.ends,
      duplicates: t.duplicates,
      lostDone: t.ends > 0 && s.state !== 'done' ? 1 : 0,
      hangs: Number(o.hung) + Number(w.hung),
      ms: performance.now() - t0,
    });
    expect(o.code, o.stderr).toBe(0);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).not.toMatch(/taking over/);
    expect(t.starts).toBe(1);
    expect(s.attempts.map((a) => [a.attempt, a.state])).toEqual([[1, 'done']]);
  });
});
