import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Backend, ConfigError, createFileBackend, UsageError } from '@runonce/core';
import type { CliConfig } from './config.js';

/** The service identifier a backend package binds its factory under (see docs/backends/custom.md). */
export const BackendFactoryId: symbol = Symbol.for('runonce.BackendFactory');

export type BackendFactory = (config: CliConfig) => Backend | Promise<Backend>;

/** Backend names the CLI knows, and the package that provides each. */
export const BUILTIN_BACKENDS: Readonly<Record<string, string>> = {
  ssm: '@runonce/backend-ssm',
  dynamodb: '@runonce/backend-dynamodb',
  redis: '@runonce/backend-redis',
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
  const factory = container.get<BackendFactory>(BackendFactoryId);
  const backend = await factory(config);
  return { backend, module: mod };
}

async function importBackendPackage(specifier: string, config: CliConfig): Promise<Record<string, unknown>> {
  const isPath = /^(\.{1,2}\/|\/)/.test(specifier);
  if (!isPath && !/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(specifier)) {
    throw new UsageError(
      `unknown backend ${JSON.stringify(specifier)}: use file, ssm, dynamodb, redis, or the name of a backend package`,
    );
  }
  if (isPath) return import(pathToFileURL(resolve(specifier)).href);
  try {
    return await import(specifier);
  } catch (e) {
    if (!isNotFound(e, specifier)) throw e;
  }
  // A third-party backend installed in the project rather than beside the CLI.
  try {
    const resolved = createRequire(join(process.cwd(), 'package.json')).resolve(specifier);
    return await import(pathToFileURL(resolved).href);
  } catch (e) {
    if (!isNotFound(e, specifier)) throw e;
  }
  const builtin = Object.values(BUILTIN_BACKENDS).includes(specifier);
  throw new ConfigError(
    `backend ${JSON.stringify(config.backend)}: package ${specifier} is not installed` +
      (builtin ? ` (install it beside @runonce/cli: npm i ${specifier})` : ' (install it in this project)'),
  );
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
