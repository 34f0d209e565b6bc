import type { Backend } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import type { ContractTarget, SuiteContext } from './target.js';

const CONNECTIONS = 8;
const PER_CONNECTION = 5;
const UP_TO = 40;
const KEEP = 8;

/**
 * createNext, the optional primitive locks use to take the next fencing token
 * in one call. A target declares whether its backend has it; the declaration
 * is checked, and a backend that has it must keep its promise, under a race
 * on several connections too.
 */
export function next(target: ContractTarget, ctx: SuiteContext): void {
  describe('createNext', () => {
    it(`is ${target.createNext ? 'provided' : 'absent'}, as the target declares`, () => {
      expect(typeof ctx.backend.createNext).toBe(target.createNext ? 'function' : 'undefined');
    });
    if (!target.createNext) return;

    const createNext = (backend: Backend) => {
      const fn = backend.createNext?.bind(backend);
      if (!fn) throw new Error(`${target.name} has no createNext`);
      return fn;
    };

    it('creates slot n only when the highest slot is n - 1 (or, for 1, when the record is empty)', async () => {
      const key = [ctx.namespace(), '_lock', 'l'];
      const cn = createNext(ctx.backend);
      expect(await cn(key, 2, { n: 2 }, KEEP)).toEqual({ won: false });
      expect(await cn(key, 1, { n: 1 }, KEEP)).toEqual({ won: true, version: 1 });
      expect(await cn(key, 1, { n: 'again' }, KEEP)).toEqual({ won: false });
      expect(await cn(key, 3, { n: 3 }, KEEP)).toEqual({ won: false });
      expect(await cn(key, 2, { n: 2 }, KEEP)).toEqual({ won: true, version: 1 });
      // A slot made by plain create counts as the top too.
      expect((await ctx.backend.create(key, 5, { n: 5 })).won).toBe(true);
      expect(await cn(key, 3, { n: 3 }, KEEP)).toEqual({ won: false });
      expect(await cn(key, 6, { n: 6 }, KEEP)).toEqual({ won: true, version: 1 });
      expect((await ctx.backend.read(key)).map((s) => [s.index, s.value, s.version])).toEqual([
        [1, { n: 1 }, 1],
        [2, { n: 2 }, 1],
        [5, { n: 5 }, 1],
        [6, { n: 6 }, 1],
      ]);
    });

    it(`keeps the ${KEEP} newest slots and forgets those at or below n - ${KEEP}`, async () => {
      const key = [ctx.namespace(), '_lock', 'l'];
      const cn = createNext(ctx.backend);
      for (let n = 1; n <= 20; n++) expect((await cn(key, n, { n }, KEEP)).won).toBe(true);
      expect((await ctx.backend.read(key)).map((s) => s.index)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
      // Writes go on working on a kept slot, and the next index is still the only one that wins.
      expect(await ctx.backend.write(key, 20, { n: 20, state: 'released' })).toBe(2);
      expect(await cn(key, 20, {}, KEEP)).toEqual({ won: false });
      expect((await cn(key, 21, { n: 21 }, KEEP)).won).toBe(true);
    });

    it(`${CONNECTIONS * PER_CONNECTION} contenders on ${CONNECTIONS} connections (shared stores): every index up to ${UP_TO} has one winner, in order`, async () => {
      const key = [ctx.namespace(), '_lock', 'race'];
      // A shared store gets a connection per group of contenders; memory has only the one store.
      const shared = ctx.backend.capabilities.shared;
      const backends = shared
        ? await Promise.all(Array.from({ length: CONNECTIONS }, () => target.backend()))
        : Array.from({ length: CONNECTIONS }, () => ctx.backend);
      try {
        const wins: { index: number; contender: string }[] = [];
        const errors: unknown[] = [];
        const contender = async (backend: Backend, contender: string) => {
          const cn = createNext(backend);
          for (;;) {
            const top = (await backend.read(key)).at(-1)?.index ?? 0;
            if (top >= UP_TO) return;
            const r = await cn(key, top + 1, { contender }, KEEP);
            if (r.won) wins.push({ index: top + 1, contender });
          }
        };
        await Promise.all(
          backends.flatMap((b, i) =>
            Array.from({ length: PER_CONNECTION }, (_, j) => contender(b, `c${i}-${j}`).catch((e) => errors.push(e))),
          ),
        );
        expect(errors).toEqual([]);
        expect(wins.map((w) => w.index).sort((a, b) => a - b)).toEqual(Array.from({ length: UP_TO }, (_, i) => i + 1));
        const stored = (await ctx.backend.read(key)).map((s) => ({ index: s.index, contender: s.value.contender }));
        expect(stored).toEqual(wins.filter((w) => w.index > UP_TO - KEEP).sort((a, b) => a.index - b.index));
      } finally {
        if (shared) await Promise.all(backends.map((b) => b.close()));
      }
    }, 120_000);
  });
}
