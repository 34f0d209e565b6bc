import { UsageError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { type Io, processIo, Reporter, since } from '../../io.js';

export interface ReleaseInput {
  readonly task: string;
  readonly force: boolean;
  readonly reason?: string | undefined;
  readonly config: CliConfig;
}

/**
 * `runonce release --force`: claim the attempt after the running one as a
 * tombstone; its owner stops at its next heartbeat and the next exec takes
 * over at once. Nothing is written into the owner's slot.
 */
export async function release(input: ReleaseInput, io: Io = processIo()): Promise<number> {
  if (!input.force) {
    throw new UsageError(
      'release: --force is required; it ends the running attempt (the next exec takes over at once), and its owner (if alive) stops its command at its next heartbeat',
    );
  }
  const engine = await openEngine(input.config);
  const reporter = new Reporter(io);
  try {
    const scope = input.config.scope;
    const r = await engine.runonce.release(input.task, {
      ...(scope !== undefined ? { scope } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    });
    if (r.released) {
      const a = r.released;
      reporter.line(
        input.task,
        `released attempt ${a.attempt} of ${a.owner} (scope ${r.scope}, started ${since(a.startedAt)} ago) with tombstone ${r.tombstone}; its owner stops at its next heartbeat, the next exec takes over`,
      );
    } else {
      reporter.line(input.task, `nothing running in scope ${r.scope}; nothing to release`);
    }
    return ExitCode.ok;
  } finally {
    reporter.close();
    await engine.close();
  }
}
