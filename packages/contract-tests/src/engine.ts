/**
 * Engine scenarios through a real backend: the engine's decisions are tested
 * on the memory backend with a fake clock in core; here they run on the real
 * store, on the real clock, with short leases.
 */
import { ErrorCode, encodeAttempt, RunOnce, RunOnceError } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import type { ContractPart } from './target.js';

const LEASE = 1500;

export const engine: ContractPart = (_target, ctx) => {
  describe('engine scenarios', () => {
    const instance = (namespace: string, owner: string) => new RunOnce({ backend: ctx.backend, namespace, owner });

    it('two runners: one runs, the other waits and sees done', async () => {
      const ns = ctx.namespace();
      let runs = 0;
      const task = async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 300));
        return runs;
      };
      const [a, b] = await Promise.all([
        instance(ns, 'a').run('t', task, { scope: 's', lease: LEASE }),
        instance(ns, 'b').run('t', task, { scope: 's', lease: LEASE }),
      ]);
      expect(runs).toBe(1);
      expect([a.ranHere, b.ranHere].sort()).toEqual([false, true]);
      expect(a.attempt).toBe(1);
      expect(b.attempt).toBe(1);
      expect((await instance(ns, 'c').status('t', { scope: 's' })).state).toBe('done');
    });

    it('a crashed owner is taken over after its lease', async () => {
      const ns = ctx.namespace();
      // What a SIGKILLed owner leaves behind: a running attempt nobody renews.
      const won = await ctx.backend.create(
        [ns, 't', 's'],
        1,
        encodeAttempt({ state: 'running', owner: 'crashed', startedAt: new Date().toISOString(), leaseMs: 1000 }),
      );
      expect(won.won).toBe(true);
      const t0 = performance.now();
      const out = await instance(ns, 'b').run('t', () => 'ran', { scope: 's', lease: LEASE });
      expect(out).toMatchObject({ ranHere: true, attempt: 2, result: 'ran' });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
      const status = await instance(ns, 'c').status('t', { scope: 's' });
      expect(status.attempts.map((a) => [a.attempt, a.state])).toEqual([
        [1, 'running'],
        [2, 'done'],
      ]);
    });

    it('a failed task is not re-run without retries, and is with them', async () => {
      const ns = ctx.namespace();
      const fail = () => {
        throw Object.assign(new Error('exit 3'), { exitCode: 3 });
      };
      await expect(instance(ns, 'a').run('t', fail, { scope: 's', lease: LEASE })).rejects.toMatchObject({
        code: ErrorCode.taskFailed,
        details: { ranHere: true, exitCode: 3 },
      });
      let ran = false;
      await expect(
        instance(ns, 'b').run(
          't',
          () => {
            ran = true;
          },
          { scope: 's', lease: LEASE },
        ),
      ).rejects.toMatchObject({ code: ErrorCode.taskFailed, details: { ranHere: false, owner: 'a', exitCode: 3 } });
      expect(ran).toBe(false);
      const retried = await instance(ns, 'c').run('t', () => 'second', { scope: 's', lease: LEASE, retries: 1 });
      expect(retried).toMatchObject({ ranHere: true, attempt: 2 });
    });

    it('a lost lease aborts the task and nothing is recorded as done', async () => {
      const ns = ctx.namespace();
      let aborted: unknown;
      const running = instance(ns, 'a').run(
        't',
        (c) =>
          new Promise((_, reject) =>
            c.signal.addEventListener('abort', () => {
              aborted = c.signal.reason;
              reject(c.signal.reason);
            }),
          ),
        { scope: 's', lease: LEASE },
      );
      await new Promise((r) => setTimeout(r, 100));
      // Someone else takes attempt 2 (as after a long pause of this owner).
      await ctx.backend.create(
        [ns, 't', 's'],
        2,
        encodeAttempt({ state: 'running', owner: 'other', startedAt: new Date().toISOString(), leaseMs: LEASE }),
      );
      await expect(running).rejects.toSatisfy((e: unknown) => RunOnceError.is(e, ErrorCode.leaseLost));
      expect(RunOnceError.is(aborted, ErrorCode.leaseLost)).toBe(true);
      const status = await instance(ns, 'c').status('t', { scope: 's' });
      expect(status.attempts.some((a) => a.state === 'done')).toBe(false);
    });

    it('reset arms a new generation that runs again', async () => {
      const ns = ctx.namespace();
      const r = instance(ns, 'a');
      let runs = 0;
      await r.run('t', () => runs++, { lease: LEASE });
      await r.run('t', () => runs++, { lease: LEASE });
      const g = await r.reset('t');
      const out = await instance(ns, 'b').run('t', () => runs++, { lease: LEASE });
      expect(out).toMatchObject({ ranHere: true, scope: g.scope });
      expect(runs).toBe(2);
    });

    it('withLock excludes concurrent holders and hands out increasing tokens', async () => {
      const ns = ctx.namespace();
      let inside = 0;
      let most = 0;
      const tokens: number[] = [];
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          instance(ns, `h${i}`).withLock(
            'l',
            async ({ fencingToken }) => {
              inside++;
              most = Math.max(most, inside);
              tokens.push(fencingToken);
              await new Promise((r) => setTimeout(r, 30));
              inside--;
            },
            { lease: LEASE },
          ),
        ),
      );
      expect(most).toBe(1);
      expect(tokens).toEqual([1, 2, 3, 4, 5]);
    });
  });
};
