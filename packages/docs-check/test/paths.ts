import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const docsDir = fileURLToPath(new URL('../../../docs/', import.meta.url));

/** The environment without RUNONCE_* settings, so a developer's shell cannot change what a check runs against. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RUNONCE_')));
}
