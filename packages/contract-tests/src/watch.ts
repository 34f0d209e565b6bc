import { type Backend, RunOnce } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import type { ContractTarget, SuiteContext } from './target.js';

/** Resolves to how long `p` took, or 'pending' if it did not settle within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<number | 'pending'> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const out = await Promise.race([
    p.then(() => performance.now() - t0),
    new Promise<'pending'>((r) => {
      timer = setTimeout(() => r('pending'), ms);
    }),
  ]);
  clearTimeout(timer);
  return out;
}

/**
 * watch, the optional wake-up: a target declares whether its backend has it; where present, a change
 * made through another connection wakes a watcher, an abort ends it, and the engine's waiter still
 * learns the outcome when every notification is lost (a hint, never the truth).
 */
export function watch(target: ContractTarget, ctx: SuiteContext): void {
  describe('watch', () => {
    it(`is ${target.watch ? 'provided' : 'absent'}, as the target declares`, () => {
      expect(typeof ctx.backend.watch).toBe(target.watch ? 'function' : 'undefined');
    });
    if (!target.watch) return;
    const watchOf = (b: Backend) => (b.watch as NonNullable<Backend['watch']>).bind(b);

    it('a create, a write and a removal, each through a second connection, wake a watcher within 2 s', async () => {
      const other = await target.backend();
      try {
        const key = [ctx.namespace(), 'task', 'scope'];
        await ctx.backend.create(key, 1, { seed: true }); // the record exists, as when a waiter waits
        const changes: [string, () => Promise<unknown>][] = [
          ['create', () => other.create(key, 2, { a: 2 })],
          ['write', () => other.write(key, 1, { a: 1 })],
          ['removeSlot', () => other.removeSlot(key, 2)],
        ];
        for (const [what, change] of changes) {
          const ac = new AbortController();
          const woke = watchOf(ctx.backend)(key, ac.signal);
          await new Promise((r) => setTimeout(r, 200)); // let it subscribe
          await change();
          expect(await within(woke, 2000), `${what} did not wake the watcher`).not.toBe('pending');
          ac.abort();
        }
      } finally {
        await other.close();
      }
    });

    it(`a watcher of one slot wakes when a second connection writes that slot${target.watchBySlot ? ', and sleeps through changes of the others' : ''}`, async () => {
      const other = await target.backend();
      try {
        const key = [ctx.namespace(), '_lock', 'l'];
        await ctx.backend.create(key, 1, { seed: 1 });
        await ctx.backend.create(key, 2, { seed: 2 });
        await new Promise((r) => setTimeout(r, 300)); // notifications of the seeds have come and gone
        const ac = new AbortController();
        const woke = watchOf(ctx.backend)(key, ac.signal, 1);
        await new Promise((r) => setTimeout(r, 200)); // let it subscribe
        if (target.watchBySlot) {
          // one release wakes one waiter in a lock's line: the others' slots change without waking it
          await other.write(key, 2, { seed: 2, again: true });
          await other.create(key, 3, { seed: 3 });
          expect(await within(woke, 500), 'a change of slot 2 or 3 woke the watcher of slot 1').toBe('pending');
        }
        await other.write(key, 1, { released: true });
        expect(await within(woke, 2000), 'a write of slot 1 did not wake its watcher').not.toBe('pending');
        ac.abort();
      } finally {
        await other.close();
      }
    });

    it('stays asleep while nothing changes, and an abort ends it at once', async () => {
      const key = [ctx.namespace(), 'task', 'scope'];
      await ctx.backend.create(key, 1, { seed: true });
      // a notification of the seed itself may still be on its way (a cluster relays PUBLISH between nodes)
      await new Promise((r) => setTimeout(r, 300));
      const ac = new AbortController();
      const woke = watchOf(ctx.backend)(key, ac.signal);
      expect(await within(woke, 500)).toBe('pending');
      ac.abort();
      expect(await within(woke, 200)).not.toBe('pending');
    });

    it('a waiter whose notifications are all lost still learns the outcome by polling', async () => {
      const namespace = ctx.namespace();
      const b = ctx.backend;
      const deaf: Backend = {
        name: b.name,
        capabilities: b.capabilities,
        read: (k) => b.read(k),
        create: (k, i, v) => b.create(k, i, v),
        write: (k, i, v) => b.write(k, i, v),
        remove: (k) => b.remove(k),
        removeSlot: (k, i) => b.removeSlot(k, i),
        list: (p) => b.list(p),
        close: async () => {},
        watch: () => new Promise<void>(() => {}), // every notification lost
      };
      const owner = new RunOnce({ backend: ctx.backend, namespace, owner: 'owner' });
      const waiter = new RunOnce({ backend: deaf, namespace, owner: 'waiter' });
      const first = owner.run('t', () => new Promise((r) => setTimeout(r, 600)), { lease: '5s' });
      await new Promise((r) => setTimeout(r, 100));
      const second = await waiter.run('t', () => 'ran twice', { lease: '5s', waitTimeout: '20s' });
      await first;
      expect(second).toMatchObject({ state: 'done', ranHere: false, owner: 'owner' });
    });
  });
}
