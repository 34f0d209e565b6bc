import { describe, expect, it } from 'vitest';
import type { ContractTarget, SuiteContext } from './target.js';

/** write: the version a writer gets back strictly increases and is the one readers see. */
export function versions(target: ContractTarget, ctx: SuiteContext): void {
  describe('versions', () => {
    it('increase strictly over 20 writes, and each write returns the version read reports', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      const created = await ctx.backend.create(key, 1, { beat: 0 });
      if (!created.won) throw new Error('create on a fresh namespace lost');
      expect(Number.isSafeInteger(created.version)).toBe(true);
      expect((await ctx.backend.read(key))[0]?.version).toBe(created.version);

      let previous = created.version;
      for (let beat = 1; beat <= 20; beat++) {
        const version = await ctx.backend.write(key, 1, { beat });
        expect(version).toBeGreaterThan(previous);
        expect(await ctx.backend.read(key)).toEqual([{ index: 1, value: { beat }, version }]);
        previous = version;
      }
    });

    it('are kept per slot: writing one slot leaves the others as they were', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      await ctx.backend.create(key, 1, { attempt: 1, state: 'failed' });
      await ctx.backend.create(key, 2, { attempt: 2, state: 'running' });
      const before = await ctx.backend.read(key);
      const version = await ctx.backend.write(key, 2, { attempt: 2, state: 'done' });
      const after = await ctx.backend.read(key);
      expect(after[0]).toEqual(before[0]);
      expect(after[1]).toEqual({ index: 2, value: { attempt: 2, state: 'done' }, version });
      expect(version).toBeGreaterThan(before[1]?.version ?? Number.POSITIVE_INFINITY);
    });

    it('still increase after a slot is written from several instances in turn', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      const other = await target.backend();
      try {
        const created = await ctx.backend.create(key, 1, { by: 'a' });
        if (!created.won) throw new Error('create on a fresh namespace lost');
        let previous = created.version;
        for (let i = 0; i < 6; i++) {
          // an owner may reconnect (a new client) between heartbeats; the store, not the client, counts
          const writer = other.capabilities.shared && i % 2 === 1 ? other : ctx.backend;
          const version = await writer.write(key, 1, { i });
          expect(version).toBeGreaterThan(previous);
          previous = version;
        }
        expect((await ctx.backend.read(key))[0]?.version).toBe(previous);
      } finally {
        await other.close();
      }
    });
  });
}
