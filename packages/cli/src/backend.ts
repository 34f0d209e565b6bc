import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Backend, type BackendFactory, BackendFactoryId, ConfigError, createFileBackend } from '@runonce/core';
import { BUILTIN_BACKENDS, isPath, looksLikeBackendPackage, unknownBackend } from './backend-names.js';
import type { CliConfig } from './config.js';

/** Core's plugin contract: the identifier a backend package binds its factory under (docs/backends/custom.md). */
export { BackendFactoryId } from '@runonce/core';
export { BUILTIN_BACKENDS } from './backend-names.js';

type BackendModule = Record<string, unknown>;

declare const RUNONCE_SEA_BUILD: boolean | undefined;
/** True inside the standalone executable (the bundler defines it), which has no `import()` of files. */
const RUNONCE_SEA = typeof RUNONCE_SEA_BUILD === 'boolean' && RUNONCE_SEA_BUILD;

/**
 * The built-in backends, each behind a static import specifier: a bundler
 * can only carry what it can see, so `@runonce/cli`'s bundle holds each one
 * (with its SDK) as a chunk of its own, loaded when that backend is chosen.
 */
const BUILTIN_LOADERS: Readonly<Record<string, () => Promise<BackendModule>>> = {
  '@runonce/backend-ssm': () => import('@runonce/backend-ssm'),
  '@runonce/backend-dynamodb': () => import('@runonce/backend-dynamodb'),
  '@runonce/backend-redis': () => import('@runonce/backend-redis'),
  '@runonce/backend-postgres': () => import('@runonce/backend-postgres'),
  '@runonce/backend-s3': () => import('@runonce/backend-s3'),
};

export interface LoadedBackend {
  readonly backend: Backend;
  /** The backend package's exports (empty for the embedded file backend), for init and doctor. */
  readonly module: Record<string, unknown>;
}

/**
 * Open the chosen backend. The file backend is embedded in core and made
 * directly: the skip path of `exec` must not pay for inversify. Every other
 * backend is a package exporting an inversify ContainerModule that binds a
 * factory under `Symbol.for('runonce.BackendFactory')`; only that package
 * (and so only its SDK) is imported.
 */
export async function openBackend(config: CliConfig): Promise<LoadedBackend> {
  if (config.backend === 'file') return { backend: createFileBackend({ dir: config.dir }), module: {} };
  const specifier = BUILTIN_BACKENDS[config.backend] ?? config.backend;
  const mod = await importBackendPackage(specifier, config);
  const modules = Object.values(mod).filter(isContainerModule);
  if (modules.length === 0) {
    throw new ConfigError(
      `backend package ${specifier} exports no inversify ContainerModule binding Symbol.for('runonce.BackendFactory')`,
    );
  }
  const { Container } = await import('inversify');
  const container = new Container();
  // biome-ignore lint/suspicious/noExplicitAny: modules come from another copy of inversify; duck-typed above
  await container.loadAsync(...(modules as any[]));
  if (!container.isBound(BackendFactoryId)) {
    throw new ConfigError(`backend package ${specifier} binds no Symbol.for('runonce.BackendFactory')`);
  }
  const factory = container.get<BackendFactory<CliConfig>>(BackendFactoryId);
  const backend = await factory(config);
  return { backend, module: mod };
}

async function importBackendPackage(specifier: string, config: CliConfig): Promise<BackendModule> {
  const builtin = BUILTIN_LOADERS[specifier];
  if (builtin) return builtin();
  if (isPath(specifier)) return importFile(resolve(specifier));
  if (!looksLikeBackendPackage(specifier)) throw unknownBackend(specifier);
  if (!RUNONCE_SEA) {
    try {
      return await import(specifier);
    } catch (e) {
      if (!isNotFound(e, specifier)) throw e;
    }
  }
  // A third-party backend installed in the project rather than beside the CLI
  // (always so for the standalone executable, which has no node_modules).
  let resolved: string | undefined;
  try {
    resolved = createRequire(join(process.cwd(), 'package.json')).resolve(specifier);
  } catch (e) {
    if (!isNotFound(e, specifier)) throw e;
  }
  if (resolved !== undefined) return importFile(resolved);
  throw new ConfigError(
    `backend ${JSON.stringify(config.backend)}: package ${specifier} is not installed (install it in this project)`,
  );
}

/**
 * A backend module from a file. The standalone executable cannot `import()`,
 * but Node's `require` loads ES modules (without top-level await) as well.
 */
async function importFile(path: string): Promise<BackendModule> {
  if (RUNONCE_SEA) return createRequire(path)(path) as BackendModule;
  return import(pathToFileURL(path).href);
}

function isNotFound(e: unknown, specifier: string): boolean {
  const code = (e as { code?: string } | null)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((e as Error).message).includes(specifier)
  );
}

/** An inversify ContainerModule from any copy of inversify: a numeric id and a load function. */
function isContainerModule(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'number' &&
    typeof (value as { load?: unknown }).load === 'function'
  );
}
