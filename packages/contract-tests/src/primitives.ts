import type { JsonObject, RecordKey } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import { type ContractTarget, mapLimit, type SuiteContext } from './target.js';

const sortKeys = (keys: readonly RecordKey[]): string[] => keys.map((k) => JSON.stringify(k)).sort();

/** read, create, remove, removeSlot, list, close: what each primitive promises on its own. */
export function primitives(target: ContractTarget, ctx: SuiteContext): void {
  describe('primitives', () => {
    it('reads a record that does not exist as no slots', async () => {
      const ns = ctx.namespace();
      expect(await ctx.backend.read([ns, 'task', 'scope'])).toEqual([]);
      expect(await ctx.backend.read([ns, 'task'])).toEqual([]);
    });

    it('create wins on an empty slot and read sees the slot with its value and version', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      const created = await ctx.backend.create(key, 1, { owner: 'host-a', state: 'running' });
      expect(created.won).toBe(true);
      const slots = await ctx.backend.read(key);
      expect(slots).toEqual([
        { index: 1, value: { owner: 'host-a', state: 'running' }, version: created.won ? created.version : -1 },
      ]);
    });

    it('create loses on an existing slot and leaves its value alone', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      expect((await ctx.backend.create(key, 1, { owner: 'first' })).won).toBe(true);
      expect(await ctx.backend.create(key, 1, { owner: 'second' })).toEqual({ won: false });
      const slots = await ctx.backend.read(key);
      expect(slots.map((s) => [s.index, s.value])).toEqual([[1, { owner: 'first' }]]);
    });

    it('read returns slots sorted by index (numerically)', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      for (const index of [3, 10, 1, 2]) expect((await ctx.backend.create(key, index, { index })).won).toBe(true);
      const slots = await ctx.backend.read(key);
      expect(slots.map((s) => s.index)).toEqual([1, 2, 3, 10]);
      expect(slots.map((s) => s.value)).toEqual([{ index: 1 }, { index: 2 }, { index: 3 }, { index: 10 }]);
    });

    it('round-trips values: nested JSON, unicode, about 3 KB', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      const nested: JsonObject = {
        owner: 'ip-10-0-0-1.eu-west-1.compute.internal/4242',
        n: [0, 1, -1, 1.5, 2 ** 53 - 1, -1e-7],
        flags: { yes: true, no: false, nothing: null },
        deep: { a: { b: { c: { d: ['x', { e: [] }, {}] } } } },
        empty: '',
        text: 'Grüße, 世界 — مرحبا 👋🏽 e\u0301 "quotes" \\ back\nslash\ttab \u0000 nul',
      };
      const big: JsonObject = { blob: 'ab€'.repeat(540), lines: Array.from({ length: 20 }, (_, i) => `line ${i} ✓`) };
      expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(2800);
      expect(Buffer.byteLength(JSON.stringify(big))).toBeLessThan(3300);

      expect((await ctx.backend.create(key, 1, nested)).won).toBe(true);
      expect((await ctx.backend.create(key, 2, big)).won).toBe(true);
      expect((await ctx.backend.read(key)).map((s) => s.value)).toEqual([nested, big]);

      await ctx.backend.write(key, 1, big);
      await ctx.backend.write(key, 2, nested);
      expect((await ctx.backend.read(key)).map((s) => s.value)).toEqual([big, nested]);
    });

    it('keeps [ns, task] apart from [ns, task, scope], including a scope named 1', async () => {
      const ns = ctx.namespace();
      const pointer = [ns, 'task'];
      const scope1 = [ns, 'task', '1'];
      const lock = [ns, '_lock', 'task'];
      expect((await ctx.backend.create(pointer, 1, { generation: 'g1' })).won).toBe(true);
      expect((await ctx.backend.create(scope1, 1, { attempt: 'a1' })).won).toBe(true);
      expect((await ctx.backend.create(lock, 1, { holder: 'h1' })).won).toBe(true);
      expect((await ctx.backend.read(pointer)).map((s) => s.value)).toEqual([{ generation: 'g1' }]);
      expect((await ctx.backend.read(scope1)).map((s) => s.value)).toEqual([{ attempt: 'a1' }]);
      expect((await ctx.backend.read(lock)).map((s) => s.value)).toEqual([{ holder: 'h1' }]);

      // writes and deletes stay within their own record
      await ctx.backend.write(pointer, 1, { generation: 'g2' });
      expect((await ctx.backend.read(scope1)).map((s) => s.value)).toEqual([{ attempt: 'a1' }]);
      await ctx.backend.removeSlot(scope1, 1);
      expect((await ctx.backend.read(pointer)).map((s) => s.value)).toEqual([{ generation: 'g2' }]);
      expect((await ctx.backend.create(scope1, 1, { attempt: 'a2' })).won).toBe(true);
      await ctx.backend.remove(pointer);
      expect(await ctx.backend.read(pointer)).toEqual([]);
      expect((await ctx.backend.read(scope1)).map((s) => s.value)).toEqual([{ attempt: 'a2' }]);
      await ctx.backend.remove(scope1);
      expect(await ctx.backend.read(scope1)).toEqual([]);
      expect((await ctx.backend.read(lock)).map((s) => s.value)).toEqual([{ holder: 'h1' }]);
    });

    it('remove and removeSlot are idempotent, also on records that never existed', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      await ctx.backend.remove([ns, 'never', 'existed']);
      await ctx.backend.removeSlot([ns, 'never', 'existed'], 1);
      for (const index of [1, 2, 3]) await ctx.backend.create(key, index, { index });

      await ctx.backend.removeSlot(key, 2);
      await ctx.backend.removeSlot(key, 2);
      expect((await ctx.backend.read(key)).map((s) => s.index)).toEqual([1, 3]);
      await ctx.backend.removeSlot(key, 7);
      expect((await ctx.backend.read(key)).map((s) => s.index)).toEqual([1, 3]);

      await ctx.backend.remove(key);
      await ctx.backend.remove(key);
      expect(await ctx.backend.read(key)).toEqual([]);
      // a removed slot can be claimed again
      expect((await ctx.backend.create(key, 1, { again: true })).won).toBe(true);
    });

    it('list finds exactly the records under a prefix, by whole segments', async () => {
      const ns = ctx.namespace();
      const other = ctx.namespace();
      const keys = [
        [ns, 'a'],
        [ns, 'a', 's1'],
        [ns, 'a', 's2'],
        [ns, 'ab', 's1'],
        [ns, 'b', '1'],
        [ns, '_lock', 'a'],
      ];
      for (const key of keys) await ctx.backend.create(key, 1, {});
      await ctx.backend.create([other, 'a', 's1'], 1, {});
      // a record whose last slot was removed is not listed
      await ctx.backend.create([ns, 'a', 'gone'], 1, {});
      await ctx.backend.removeSlot([ns, 'a', 'gone'], 1);

      expect(sortKeys(await ctx.backend.list([ns]))).toEqual(sortKeys(keys));
      expect(sortKeys(await ctx.backend.list([ns, 'a']))).toEqual(sortKeys(keys.slice(0, 3)));
      expect(sortKeys(await ctx.backend.list([ns, 'b']))).toEqual(sortKeys([[ns, 'b', '1']]));
      expect(await ctx.backend.list([ns, 'nothing'])).toEqual([]);
      expect(await ctx.backend.list([ctx.namespace()])).toEqual([]);
    });

    it('list pages past 1,000 records', { timeout: 300_000 }, async () => {
      const ns = ctx.namespace();
      const keys = Array.from({ length: 1050 }, (_, i) => [ns, `task-${i % 3}`, `s${i}`]);
      await mapLimit(keys, 20, async (key) => {
        expect((await ctx.backend.create(key, 1, { i: key[2] as string })).won).toBe(true);
      });
      const all = await ctx.backend.list([ns]);
      expect(all).toHaveLength(1050);
      expect(sortKeys(all)).toEqual(sortKeys(keys));
      expect(sortKeys(await ctx.backend.list([ns, 'task-1']))).toEqual(sortKeys(keys.filter((k) => k[1] === 'task-1')));
    });

    it('close is idempotent', async () => {
      const backend = await target.backend();
      expect(await backend.read([ctx.namespace(), 'task'])).toEqual([]);
      await expect(backend.close()).resolves.toBeUndefined();
      await expect(backend.close()).resolves.toBeUndefined();
    });

    it('a slot created through one backend instance is seen through another', async () => {
      const ns = ctx.namespace();
      const key = [ns, 'task', 'scope'];
      const other = await target.backend();
      try {
        expect((await ctx.backend.create(key, 1, { by: 'first' })).won).toBe(true);
        if (other.capabilities.shared) {
          expect((await other.read(key)).map((s) => s.value)).toEqual([{ by: 'first' }]);
          expect(await other.create(key, 1, { by: 'second' })).toEqual({ won: false });
        } else {
          // an unshared store (memory) is private to its instance
          expect(await other.read(key)).toEqual([]);
        }
      } finally {
        await other.close();
      }
    });
  });
}
