import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { type Io, processIo } from '../../io.js';

export interface InitInput {
  readonly config: CliConfig;
}

/** `runonce init`: create what the backend needs, idempotently, and say what was done. */
export async function init(input: InitInput, io: Io = processIo()): Promise<number> {
  const { config } = input;
  const say = (m: string) => io.stderr.write(`runonce: init: ${m}\n`);
  const engine = await openEngine(config);
  try {
    // Every backend says for itself what it needs (core's Backend.init): no switch on names here.
    const backend = engine.runonce.backend;
    say(
      backend.init
        ? await backend.init()
        : `the ${config.backend} backend needs nothing created beforehand (records are made on first use); nothing to do`,
    );
    return ExitCode.ok;
  } finally {
    await engine.close();
  }
}
