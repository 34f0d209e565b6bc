import { mkdir } from 'node:fs/promises';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { type Io, processIo } from '../../io.js';

export interface InitInput {
  readonly config: CliConfig;
}

interface Initialisable {
  /** DynamoDB: create the table (on-demand, pk/sk), wait until ACTIVE, enable TTL. */
  createTable?: () => Promise<{ table: string; created: boolean; ttl: string }>;
  /** A third-party backend's own setup (see docs/backends/custom.md); returns what it did. */
  init?: () => Promise<string | undefined>;
}

/** `runonce init`: create what the backend needs, idempotently, and say what was done. */
export async function init(input: InitInput, io: Io = processIo()): Promise<number> {
  const { config } = input;
  const say = (m: string) => io.stderr.write(`runonce: init: ${m}\n`);
  if (config.backend === 'file') {
    const made = await mkdir(config.dir, { recursive: true, mode: 0o700 });
    say(made ? `created state directory ${config.dir} (0700)` : `state directory ${config.dir} exists; nothing to do`);
    return ExitCode.ok;
  }
  const engine = await openEngine(config);
  try {
    const backend = engine.runonce.backend as unknown as Initialisable;
    if (typeof backend.createTable === 'function') {
      const r = await backend.createTable();
      const ttl =
        r.ttl === 'enabled' ? 'TTL on expiresAt enabled' : 'TTL not supported by this endpoint (use runonce prune)';
      say(
        r.created
          ? `created DynamoDB table ${r.table} (on-demand, pk S + sk N); ${ttl}`
          : `DynamoDB table ${r.table} exists and has runonce's keys; ${ttl}`,
      );
    } else if (typeof backend.init === 'function') {
      say((await backend.init()) ?? `${config.backend}: initialised`);
    } else {
      say(
        `the ${config.backend} backend needs nothing created beforehand (records are made on first use); nothing to do`,
      );
    }
    return ExitCode.ok;
  } finally {
    await engine.close();
  }
}
