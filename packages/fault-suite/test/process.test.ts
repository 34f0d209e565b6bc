import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  BACKENDS,
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
 * Process faults, with real processes on every backend: the owner SIGKILLed at
 * each stage, paused past its lease, interrupted. A second instance is always
 * waiting, so every case ends with the task done exactly once (or, where the
 * killed owner had finished the work but not recorded it, re-run as an
 * announced takeover: the case fencing tokens exist for).
 */
for (const backend of BACKENDS) {
  describe(`process faults on ${backend}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await startStore(backend);
    }, 120_000);
    afterAll(() => store?.stop());

    const lease = '1s';
    const pidOf = (marker: string, attempt: number) =>
      Number(
        lines(marker)
          .find((l) => l.startsWith(`start ${attempt} `))
          ?.split(' ')[2],
      );

    const stages = [
      // Killed before its first heartbeat (lease/3 after the claim).
      {
        stage: 'before first heartbeat',
        killWhen: (m: string) => lines(m).some((l) => l.startsWith('start 1')),
        after: 0,
        announced: 0,
      },
      // Killed after several heartbeats.
      {
        stage: 'mid-task',
        killWhen: (m: string) => lines(m).some((l) => l.startsWith('start 1')),
        after: 1500,
        announced: 0,
      },
      // The work is finished (the command logged `end`) but `done` is not recorded yet.
      {
        stage: 'after the work, before done',
        killWhen: (m: string) => lines(m).includes('end 1'),
        after: 0,
        announced: 1,
      },
    ];

    for (const { stage, killWhen, after, announced } of stages) {
      it(`SIGKILL of the owner ${stage}: a waiting instance takes over after about a lease and records done`, async () => {
        const t0 = performance.now();
        const env = store.env();
        const marker = join(scratch(), 'marker');
        // Attempt 1's "work" is 1 s when killed after it, else 30 s (it never finishes).
        const firstCmd =
          announced > 0
            ? `echo "start $RUNONCE_ATTEMPT $$" >> ${marker}; sleep 0.3; echo "end $RUNONCE_ATTEMPT" >> ${marker}; sleep 30`
            : taskCommand(marker, 30);
        const owner = spawnExec(['exec', 'mig', '--lease', lease, '--shell', '--', firstCmd], env);
        await until(() => lines(marker).some((l) => l.startsWith('start 1')), 'the owner to start the command', 20_000);
        const waiter = spawnExec(['exec', 'mig', '--lease', lease, '--shell', '--', taskCommand(marker, 30)], env);
        await until(() => killWhen(marker), `stage: ${stage}`, 20_000);
        if (after) await new Promise((r) => setTimeout(r, after));
        owner.child.kill('SIGKILL');
        const childPid = pidOf(marker, 1);
        const o = await bounded(owner, 10_000);
        const w = await bounded(waiter, 30_000);
        // The reaper must stop the orphaned command, or the takeover would run beside it.
        await until(() => !alive(childPid), 'the reaper to stop the orphaned command', 5000).catch(() => {});
        const s = await status('mig', env);
        const t = tally(marker, /taking over/.test(w.stderr) ? announced : 0);
        record({
          fault: `SIGKILL owner ${stage}`,
          backend,
          runs: t.ends,
          duplicates: t.duplicates,
          lostDone: t.ends > 0 && s.state !== 'done' ? 1 : 0,
          hangs: Number(o.hung) + Number(w.hung),
          ms: performance.now() - t0,
        });
        expect(o.signal).toBe('SIGKILL');
        expect(w.code, w.stderr).toBe(0);
        expect(w.stderr).toMatch(/taking over from .* \(attempt 1 stale\), running attempt 2/);
        expect(alive(childPid)).toBe(false);
        expect(s.state).toBe('done');
        expect(s.attempts.map((a) => [a.attempt, a.state])).toEqual([
          [1, 'running'],
          [2, 'done'],
        ]);
        expect(t.duplicates).toBe(0);
        expect(w.hung || o.hung).toBe(false);
      });
    }

    it('owner paused (SIGSTOP) past its lease, then SIGCONT: it finds attempt 2, kills its command and exits 75 without writing done', async () => {
      const t0 = performance.now();
      const env = store.env();
      const marker = join(scratch(), 'marker');
      const owner = spawnExec(['exec', 'mig', '--lease', lease, '--shell', '--', taskCommand(marker, 6)], env);
      await until(() => lines(marker).some((l) => l.startsWith('start 1')), 'the owner to start the command', 20_000);
      const childPid = pidOf(marker, 1);
      const waiter = spawnExec(['exec', 'mig', '--lease', lease, '--shell', '--', taskCommand(marker, 6)], env);
      owner.child.kill('SIGSTOP');
      const w = await bounded(waiter, 30_000);
      owner.child.kill('SIGCONT');
      const o = await bounded(owner, 15_000);
      const s = await status('mig', env);
      const t = tally(marker);
      record({
        fault: 'owner SIGSTOP > lease, SIGCONT',
        backend,
        runs: t.ends,
        duplicates: t.duplicates,
        lostDone: t.ends > 0 && s.state !== 'done' ? 1 : 0,
        hangs: Number(o.hung) + Number(w.hung),
        ms: performance.now() - t0,
      });
      expect(w.code, w.stderr).toBe(0);
      expect(o.code, o.stderr).toBe(75);
      expect(o.stderr).toMatch(/lease lost on attempt 1/);
      expect(alive(childPid)).toBe(false);
      expect(lines(marker)).not.toContain('end 1');
      expect(s.state).toBe('done');
      expect(s.attempts.find((a) => a.attempt === 1)?.state).not.toBe('done');
      expect(s.attempts.find((a) => a.attempt === 2)?.state).toBe('done');
    });

    for (const [sig, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      it(`${sig} to the owner: forwarded to the command, attempt recorded abandoned, the waiter takes over at once`, async () => {
        const t0 = performance.now();
        const env = store.env();
        const marker = join(scratch(), 'marker');
        const trapCmd = `trap 'echo "got ${sig}" >> ${marker}; exit ${code}' ${sig.slice(3)}; ${taskCommand(marker, 30).replace('sleep 30', 'i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done')}`;
        // A long lease: the takeover must come from the abandoned record, not from staleness.
        const owner = spawnExec(['exec', 'mig', '--lease', '20s', '--shell', '--', trapCmd], env);
        await until(() => lines(marker).some((l) => l.startsWith('start 1')), 'the owner to start the command', 20_000);
        const waiter = spawnExec(['exec', 'mig', '--lease', '20s', '--shell', '--', taskCommand(marker, 30)], env);
        await until(() => waiter.stderr().includes('waiting for'), 'the second instance to wait', 20_000);
        owner.child.kill(sig);
        const o = await bounded(owner, 15_000);
        const tw = performance.now();
        const w = await bounded(waiter, 15_000);
        const s = await status('mig', env);
        const t = tally(marker);
        record({
          fault: `${sig} to the owner`,
          backend,
          runs: t.ends,
          duplicates: t.duplicates,
          lostDone: t.ends > 0 && s.state !== 'done' ? 1 : 0,
          hangs: Number(o.hung) + Number(w.hung),
          ms: performance.now() - t0,
        });
        expect(o.code, o.stderr).toBe(code);
        expect(lines(marker)).toContain(`got ${sig}`);
        expect(w.code, w.stderr).toBe(0);
        expect(w.stderr).toMatch(/attempt 1 abandoned\), running attempt 2/);
        expect(performance.now() - tw).toBeLessThan(10_000); // not a 20 s lease
        expect(s.attempts.map((a) => [a.attempt, a.state])).toEqual([
          [1, 'abandoned'],
          [2, 'done'],
        ]);
      });
    }
  });
}
