import { type Backend, RunOnce } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import type { ContractTarget, SuiteContext } from './target.js';

const LEASE = '3s';

/**
 * A lock's line, on stores with createNext: waiters that find the lock held take the next slot and
 * are handed the lock in the order they asked, each on its own connection (as separate hosts would
 * be), and the holder that asks again lines up behind them rather than taking it back at once.
 */
export function line(target: ContractTarget, ctx: SuiteContext): void {
  if (!target.createNext) return;
  describe('lock line', () => {
    it('5 waiters on their own connections get the lock in the order they asked; the releaser asks again and comes last', async () => {
      const namespace = ctx.namespace();
      const backends: Backend[] = [];
      try {
        const engine = async (owner: string) => {
          // a store only one process can see (memory) is shared by its engines instead
          if (!ctx.backend.capabilities.shared) return new RunOnce({ backend: ctx.backend, namespace, owner });
          const backend = await target.backend();
          backends.push(backend);
          return new RunOnce({ backend, namespace, owner });
        };
        const holder = await engine('holder');
        const held = await holder.lock('l', { lease: LEASE });
        const order: string[] = [];
        let inside = 0;
        const body =
          (name: string) =>
          async ({ fencingToken }: { fencingToken: number }) => {
            expect(++inside).toBe(1);
            order.push(`${name}:${fencingToken}`);
            await new Promise((r) => setTimeout(r, 20));
            inside--;
          };
        const runs: Promise<unknown>[] = [];
        for (const name of ['w1', 'w2', 'w3', 'w4', 'w5']) {
          const e = await engine(name);
          runs.push(e.withLock('l', body(name), { lease: LEASE, waitTimeout: '60s' }));
          // in line before the next asks: its queued slot exists
          for (
            let i = 0;
            i < 200 && (await ctx.backend.read([namespace, '_lock', 'l'])).length < runs.length + 1;
            i++
          ) {
            await new Promise((r) => setTimeout(r, 10));
          }
        }
        await held?.release();
        runs.push(holder.withLock('l', body('holder'), { lease: LEASE, waitTimeout: '60s' }));
        await Promise.all(runs);
        expect(order).toEqual(['w1:2', 'w2:3', 'w3:4', 'w4:5', 'w5:6', 'holder:7']);
      } finally {
        await Promise.all(backends.map((b) => b.close()));
      }
    });
  });
}
