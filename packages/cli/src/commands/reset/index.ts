import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { type Io, processIo, Reporter } from '../../io.js';

export interface ResetInput {
  readonly tasks: readonly string[];
  readonly config: CliConfig;
}

/** `runonce reset`: a new generation per task; the next exec (without --scope) runs it again. */
export async function reset(input: ResetInput, io: Io = processIo()): Promise<number> {
  const engine = await openEngine(input.config);
  const reporter = new Reporter(io);
  try {
    for (const task of input.tasks) {
      const scope = input.config.scope;
      const r = await engine.runonce.reset(task, scope !== undefined ? { scope } : {});
      reporter.line(task, `generation ${r.generation}: scope ${r.scope}; the next exec runs it`);
    }
    return ExitCode.ok;
  } finally {
    reporter.close();
    await engine.close();
  }
}
