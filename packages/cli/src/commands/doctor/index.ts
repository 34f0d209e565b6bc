import { hostname } from 'node:os';
import { type RecordKey, RunOnceError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode, exitCodeFor } from '../../exit.js';
import { type Io, processIo } from '../../io.js';

export interface DoctorInput {
  readonly config: CliConfig;
}

/**
 * `runonce doctor`: every primitive once on a scratch record under
 * `<namespace>/_doctor/` (no task can be named `_doctor`), then the
 * permissions the backend needs. Exit 0 when all passed, else the mapped
 * code of the first failure (69 for unreachable or denied).
 */
export async function doctor(input: DoctorInput, io: Io = processIo()): Promise<number> {
  const { config } = input;
  const out = (line: string) => io.stdout.write(`${line}\n`);
  out(`backend: ${config.backend}, namespace ${config.namespace}`);
  if (config.configFile) out(`config file: ${config.configFile}`);
  let failure: unknown;
  let module: Record<string, unknown> = {};
  let opened: import('@runonce/core').Backend | undefined;
  try {
    const t0 = performance.now();
    const engine = await openEngine(config);
    module = engine.module;
    opened = engine.runonce.backend;
    const location = opened.location ? `: ${opened.location}` : '';
    out(`  ok  open backend (${Math.round(performance.now() - t0)} ms)${location}`);
    try {
      failure = await roundTrip(engine.runonce.backend, config.namespace, out);
    } finally {
      await engine.close();
    }
  } catch (e) {
    failure = e;
    out(`  FAIL open backend: ${(e as Error).message}`);
  }
  out('');
  out(permissions(config, opened, module));
  if (failure) {
    io.stderr.write(`runonce: doctor: ${(failure as Error).message}\n`);
    return exitCodeFor(failure);
  }
  out('all checks passed');
  return ExitCode.ok;
}

async function roundTrip(
  backend: import('@runonce/core').Backend,
  namespace: string,
  out: (line: string) => void,
): Promise<unknown> {
  const id = `${hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 60)}-${process.pid}-${Date.now().toString(36)}`;
  const key: RecordKey = [namespace, '_doctor', id];
  const value = { v: 1, doctor: true, at: new Date().toISOString() };
  let version = 0;
  const steps: Array<[string, () => Promise<void>]> = [
    ['read (empty record)', async () => expect((await backend.read(key)).length === 0, 'scratch record not empty')],
    [
      'create (claim)',
      async () => {
        const r = await backend.create(key, 1, value);
        expect(r.won, 'create of a fresh slot was reported lost');
        if (r.won) version = r.version;
      },
    ],
    [
      'create again (must lose)',
      async () => expect(!(await backend.create(key, 1, value)).won, 'second create also won'),
    ],
    [
      'read (sees the slot)',
      async () =>
        expect(
          (await backend.read(key)).some((s) => s.index === 1),
          'slot not visible',
        ),
    ],
    [
      'write (heartbeat)',
      async () => {
        const v = await backend.write(key, 1, { ...value, beat: 1 });
        expect(v > version, `version did not increase (${version} -> ${v})`);
      },
    ],
    [
      'list',
      async () => {
        const keys = await backend.list([namespace, '_doctor']);
        expect(
          keys.some((k) => k.join('/') === key.join('/')),
          'scratch record not listed',
        );
      },
    ],
    ['remove slot', () => backend.removeSlot(key, 1)],
    ['remove record', () => backend.remove(key)],
  ];
  for (const [name, step] of steps) {
    const t0 = performance.now();
    try {
      await step();
      out(`  ok  ${name} (${Math.round(performance.now() - t0)} ms)`);
    } catch (e) {
      out(`  FAIL ${name}: ${(e as Error).message}`);
      await backend.remove(key).catch(() => {});
      return e;
    }
  }
  return undefined;
}

function expect(ok: boolean, message: string): void {
  if (!ok) throw new RunOnceError('E_CORRUPT_STATE', `backend misbehaves: ${message}`);
}

/**
 * What the chosen backend needs, as a policy to paste: the backend says so
 * itself (Backend.describePermissions); a third-party package that did not
 * open may still export a `describePermissions(config)` function.
 */
export function permissions(
  c: CliConfig,
  backend: import('@runonce/core').Backend | undefined,
  module: Record<string, unknown>,
): string {
  if (backend?.describePermissions) return backend.describePermissions();
  const exported = module.describePermissions;
  const text = typeof exported === 'function' ? (exported as (c: CliConfig) => unknown)(c) : undefined;
  if (text === undefined) {
    return `permissions: ${c.backend} does not describe its permissions (give it describePermissions(), see docs/backends/custom.md)`;
  }
  return `permissions for ${c.backend}:\n${typeof text === 'string' ? text : JSON.stringify(text, null, 2)}`;
}
