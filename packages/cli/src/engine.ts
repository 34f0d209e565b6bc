import { RunOnce } from '@runonce/core';
import { openBackend } from './backend.js';
import type { CliConfig } from './config.js';

export interface OpenEngine {
  readonly runonce: RunOnce;
  readonly module: Record<string, unknown>;
  close(): Promise<void>;
}

export async function openEngine(config: CliConfig): Promise<OpenEngine> {
  const { backend, module } = await openBackend(config);
  const runonce = new RunOnce({
    backend,
    namespace: config.namespace,
    ...(config.owner !== undefined ? { owner: config.owner } : {}),
  });
  return { runonce, module, close: () => backend.close().catch(() => {}) };
}
