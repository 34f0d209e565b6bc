import type { JsonObject } from '@runonce/core';

/** Prefix of the worker's lines to the parent, so a backend that logs to stdout cannot confuse the parent. */
export const MARKER = '@@runonce-race ';

export interface WorkerJob {
  readonly module: string;
  readonly exportName: string;
  readonly options: JsonObject;
  readonly mode: 'create' | 'claim';
  readonly key: string[];
  /** create: the slot every contender creates. claim: the last index to claim. */
  readonly index: number;
  /** One id per concurrent contender in this process. */
  readonly ids: string[];
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: unknown }
  | { readonly type: 'error'; readonly message: string };
