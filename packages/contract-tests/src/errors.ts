import { type Backend, ErrorCode, RunOnceError } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import { describeError } from './contenders.js';
import type { ContractTarget, SuiteContext } from './target.js';

/** How long an unreachable backend may take to say so: a runner must not hang on a dead store. */
const UNREACHABLE_WITHIN_MS = 15_000;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
}

/** Typed errors: an unreachable store and a malformed call each reject with the right RunOnceError. */
export function errors(target: ContractTarget, ctx: SuiteContext): void {
  describe('errors', () => {
    const calls: [string, (b: Backend, ns: string) => Promise<unknown>][] = [
      ['read', (b, ns) => b.read([ns, 'task', 'scope'])],
      ['create', (b, ns) => b.create([ns, 'task', 'scope'], 1, { owner: 'x' })],
      ['write', (b, ns) => b.write([ns, 'task', 'scope'], 1, { owner: 'x' })],
    ];
    const unreachable = target.unreachable;
    for (const [op, call] of unreachable ? calls : []) {
      it(`an unreachable backend's ${op} rejects with E_BACKEND_UNAVAILABLE within ${UNREACHABLE_WITHIN_MS / 1000} s`, {
        timeout: UNREACHABLE_WITHIN_MS + 10_000,
      }, async () => {
        const backend = await (unreachable as () => Promise<Backend>)();
        try {
          const started = performance.now();
          const error = await rejection(call(backend, ctx.namespace()));
          const elapsed = performance.now() - started;
          expect(RunOnceError.is(error, ErrorCode.backendUnavailable), describeError(error)).toBe(true);
          expect(elapsed).toBeLessThan(UNREACHABLE_WITHIN_MS);
        } finally {
          await backend.close();
        }
      });
    }

    it.each([0, -1, 1.5, Number.NaN])(
      'create and write with slot index %s reject with a ValidationError',
      async (index) => {
        const ns = ctx.namespace();
        const key = [ns, 'task', 'scope'];
        for (const call of [() => ctx.backend.create(key, index, {}), () => ctx.backend.write(key, index, {})]) {
          const error = await rejection(call());
          expect(RunOnceError.is(error, ErrorCode.validation), describeError(error)).toBe(true);
        }
        expect(await ctx.backend.read(key)).toEqual([]);
        expect(await ctx.backend.list([ns])).toEqual([]);
      },
    );
  });
}
