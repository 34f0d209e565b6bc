import { randomBytes } from 'node:crypto';
import type { Backend, JsonObject } from '@runonce/core';
import { afterAll, beforeAll } from 'vitest';

/** What a backend's `contract.test.ts` hands to the suite. */
export interface ContractTarget {
  /** Shown as the describe block, e.g. 'file', 'redis', 'ssm (moto)'. */
  readonly name: string;
  /** Builds the backend under test; called once per suite (beforeAll) and closed in afterAll. */
  readonly backend: () => Promise<Backend>;
  /**
   * How a child process builds the same backend:
   * `(await import(module))[exportName](options)` → Backend | Promise<Backend>.
   * `module` is an absolute path, a file: URL, or a package the contract-tests
   * package itself can resolve (`@runonce/core`); a backend package passes
   * `new URL('../dist/index.js', import.meta.url).href`. Required when
   * `backend().capabilities.shared` is true: the create race then runs across
   * several processes.
   */
  readonly spawn?: { readonly module: string; readonly exportName: string; readonly options: JsonObject };
  /**
   * A backend pointed at nothing (a closed port, an unusable directory). Left
   * out only by a store that cannot be unreachable (memory): the errors part
   * then registers no unreachable tests, rather than testing a stub.
   */
  readonly unreachable?: () => Promise<Backend>;
  /** The backend implements the optional `createNext` (checked; its tests run only then). */
  readonly createNext?: boolean;
  /** The backend implements the optional `watch` (checked; its tests run only then). */
  readonly watch?: boolean;
  /**
   * Its watch knows which slot changed: a watcher of one slot sleeps through changes of the others
   * (Redis, PostgreSQL). Without it a watcher of a slot may wake on any change (file), which is allowed.
   */
  readonly watchBySlot?: boolean;
  /** Contenders in the create race. Default 200. */
  readonly raceSize?: number;
}

/** What every part gets: the suite's backend (from beforeAll) and fresh namespaces. */
export interface SuiteContext {
  /** The backend built in beforeAll. Only usable inside a test. */
  readonly backend: Backend;
  /** A new random namespace (`ct-<hex>`), so tests never see each other's records. */
  namespace(): string;
}

/** One group of contract tests; `defineContractSuite` calls each in turn. */
export type ContractPart = (target: ContractTarget, ctx: SuiteContext) => void;

/** Registers beforeAll/afterAll in the current describe block and returns the context parts use. */
export function createContext(target: ContractTarget): SuiteContext {
  let backend: Backend | undefined;
  beforeAll(async () => {
    backend = await target.backend();
  });
  afterAll(async () => {
    await backend?.close();
    backend = undefined;
  });
  return {
    get backend(): Backend {
      if (!backend) throw new Error(`contract suite ${target.name}: the backend is only available inside a test`);
      return backend;
    },
    namespace,
  };
}

export function namespace(): string {
  return `ct-${randomBytes(6).toString('hex')}`;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
