import { describe } from 'vitest';
import { engine } from './engine.js';
import { errors } from './errors.js';
import { line } from './line.js';
import { next } from './next.js';
import { primitives } from './primitives.js';
import { races } from './races.js';
import { type ContractPart, type ContractTarget, createContext } from './target.js';
import { versions } from './versions.js';
import { watch } from './watch.js';

/** Every part of the contract, in the order they run. A new part is one more entry. */
export const parts: readonly ContractPart[] = [primitives, versions, races, next, watch, errors, engine, line];

/** The whole contract for one backend: `describe(target.name, …)` with every part. */
export function defineContractSuite(target: ContractTarget): void {
  describe(target.name, () => {
    const ctx = createContext(target);
    for (const part of parts) part(target, ctx);
  });
}
