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

/** The signals an operator or a supervisor sends to stop us (Ctrl-C, scale-in, hook timeout). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Listen for stop signals until disposed; while listening they no longer kill this process. */
export function onStopSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
}
