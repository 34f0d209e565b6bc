import { DEFAULTS, UsageError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { type Io, processIo } from '../../io.js';

export interface PruneInput {
  readonly keep?: string | number | undefined;
  readonly task?: string | undefined;
  readonly config: CliConfig;
}

/** `runonce prune`: delete old scopes; prints one line per scope removed. */
export async function prune(input: PruneInput, io: Io = processIo()): Promise<number> {
  const keep = input.keep === undefined ? DEFAULTS.keep : Number(input.keep);
  if (!Number.isInteger(keep) || keep < 0 || (typeof input.keep === 'string' && !/^\d+$/.test(input.keep))) {
    throw new UsageError(`prune: --keep must be a whole number >= 0, got ${JSON.stringify(input.keep)}`);
  }
  const engine = await openEngine(input.config);
  try {
    const removed = await engine.runonce.prune({ keep, ...(input.task !== undefined ? { task: input.task } : {}) });
    for (const r of removed) io.stderr.write(`runonce: ${r.task}: removed scope ${r.scope}\n`);
    io.stderr.write(`runonce: pruned ${removed.length} scope(s), keeping ${keep} per task\n`);
    return ExitCode.ok;
  } finally {
    await engine.close();
  }
}
