/**
 * Inside the standalone executable only (build.mjs's `sea` build): the
 * packages the CLI imports lazily — each built-in backend with its SDK,
 * inversify, yaml — are not in the main script but stored beside it as
 * assets of the executable, each one CommonJS file, and compiled here on
 * first use. The main script stays small, so the skip path on the file
 * backend compiles and runs only what it needs (as the npm bundle's chunks
 * do). An asset's `require` gets this CLI's own copy of @runonce/core (one
 * engine, one set of error classes), other assets, and Node's built-ins.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { getAsset } from 'node:sea';
import { compileFunction } from 'node:vm';
import * as core from '@runonce/core';

type Exports = Record<string, unknown>;

const loaded = new Map<string, Exports>([['@runonce/core', core as unknown as Exports]]);
const builtin = createRequire(__filename);

/** The asset's key for a package name (`@runonce/backend-ssm` → `backend-ssm.cjs`). */
export const assetKey = (name: string): string => `${name.replace(/^@runonce\//, '')}.cjs`;

export function loadAsset(name: string): Exports {
  const cached = loaded.get(name);
  if (cached) return cached;
  const code = getAsset(assetKey(name), 'utf8');
  const module = { exports: {} as Exports };
  // Registered before it runs, so a require cycle between assets gets the partial exports, as in Node.
  loaded.set(name, module.exports);
  const filename = `${process.execPath}:${assetKey(name)}`;
  const fn = compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
  fn(module.exports, assetRequire, module, filename, dirname(process.execPath));
  loaded.set(name, module.exports); // the asset may have replaced module.exports
  return module.exports;
}

function assetRequire(id: string): unknown {
  if (loaded.has(id) || SEA_ASSETS.includes(id)) return loadAsset(id);
  return builtin(id);
}

declare const SEA_ASSETS: readonly string[];
