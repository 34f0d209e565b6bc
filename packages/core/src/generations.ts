// A task's generations: record <namespace>/<task>, one slot per `reset`, each naming the scope runs
// use when none is given. The newest DEFAULTS.keep are kept.
import type { JsonObject, RecordKey } from './backend.js';
import type { Random } from './clock.js';
import { type EngineContext, nowIso, readRecord } from './context.js';
import { CorruptStateError } from './errors.js';
import { validateName, validateScope } from './names.js';
import { DEFAULTS } from './options.js';

/** The scope a run uses when none is given: the current generation, else `initial`. */
export async function currentScope(ctx: EngineContext, task: string): Promise<string> {
  validateName('task', task);
  const latest = (await readRecord(ctx, [ctx.namespace, task])).at(-1);
  if (!latest) return 'initial';
  const scope = latest.value.scope;
  if (typeof scope !== 'string' || latest.value.v !== 1) {
    throw new CorruptStateError(
      `${ctx.namespace}/${task}: generation ${latest.index} holds a value runonce did not write`,
    );
  }
  return validateScope(scope);
}

/**
 * Start a new generation: the next run of the task (without an explicit
 * scope) claims a fresh scope. Two concurrent resets yield one new generation.
 * `scope` names the new generation's scope (a build id) instead of a random one.
 */
export async function reset(
  ctx: EngineContext,
  task: string,
  options: { scope?: string } = {},
): Promise<{ task: string; scope: string; generation: number }> {
  validateName('task', task);
  const given = options.scope !== undefined ? validateScope(options.scope) : undefined;
  const key: RecordKey = [ctx.namespace, task];
  for (;;) {
    const slots = await readRecord(ctx, key);
    const generation = (slots.at(-1)?.index ?? 0) + 1;
    const scope = given ?? `gen-${generation}-${randomSuffix(ctx.random)}`;
    const value: JsonObject = {
      v: 1,
      scope,
      createdAt: nowIso(ctx),
      by: ctx.owner,
    };
    const created = await ctx.backend.create(key, generation, value);
    if (!created.won) {
      const winner = (await readRecord(ctx, key)).find((s) => s.index === generation);
      if (winner && typeof winner.value.scope === 'string') return { task, scope: winner.value.scope, generation };
      continue;
    }
    for (const old of slots) {
      if (old.index <= generation - DEFAULTS.keep) await ctx.backend.removeSlot(key, old.index);
    }
    return { task, scope, generation };
  }
}

function randomSuffix(random: Random): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 36)];
  return s;
}
