import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createSsmBackend, slotName } from '@runonce/backend-ssm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lines, record, runonce, type Store, scratch, startStore } from './harness.js';

/**
 * Bad input, fuzzed with fast-check through the real binary: task and scope
 * names, durations, config files, and slots holding something runonce did not
 * write (a truncated file, a hand-edited SSM parameter). Every case ends with
 * an exit code from SPEC.md and a one-line message: never a stack trace, and
 * never the command run on state that could not be read.
 */
const TASK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// SPEC's scope characters, less `.` and `..` (path segments in every backend's keys: refused on purpose).
const SCOPE = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,128}$/;
const STACK = /\n\s+at .+:\d+:\d+/;
const RUNS = Number(process.env.RUNONCE_FUZZ_RUNS ?? 40);

function noCrash(r: { code: number | null; stderr: string }): void {
  expect(r.stderr).not.toMatch(STACK);
  expect(r.code).not.toBe(70); // internal software error
  expect(r.code).not.toBeNull();
}

/** Strings that look like names: mostly from the allowed alphabet, plus the characters that break things. */
const nameLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/),
  fc.string({
    unit: fc.constantFrom(...'abcXYZ019_.-', ' ', '/', ':', '\\', '*', '$', '\n', 'é', '\u0000', '-'),
    minLength: 0,
    maxLength: 140,
  }),
);

describe('bad input on the file backend', () => {
  let store: Store;
  beforeAll(async () => {
    store = await startStore('file');
  });
  afterAll(() => store?.stop());

  it('task and scope names: valid ones run, anything else is a usage error (64) and nothing runs', async () => {
    const t0 = performance.now();
    let runs = 0;
    let wrongRuns = 0;
    await fc.assert(
      fc.asyncProperty(nameLike, fc.option(nameLike, { nil: undefined }), fc.boolean(), async (task, scope, inline) => {
        if (task.includes('\u0000') || scope?.includes('\u0000')) return; // argv cannot carry NUL
        const marker = join(scratch(), 'marker');
        const scopeArgs = scope === undefined ? [] : inline ? [`--scope=${scope}`] : ['--scope', scope];
        const args = ['exec', task, ...scopeArgs, '--', 'sh', '-c', `echo ran >> ${marker}`];
        const r = await runonce(args, store.env());
        noCrash(r);
        // A value given as its own word never starts with - (SPEC's argument rules: `--scope $UNSET -- cmd`
        // must not read `--` as the scope); `--scope=-a` is how a scope that does is written.
        const scopeOk = scope === undefined || (SCOPE.test(scope) && (inline || !scope.startsWith('-')));
        const valid = TASK.test(task) && scopeOk;
        const ran = lines(marker).length;
        runs += ran;
        if (!valid && ran) wrongRuns++;
        // A leading dash reads as an option: a usage error either way.
        expect(r.code, `${JSON.stringify([task, scope])}: ${r.stderr}`).toBe(valid ? 0 : 64);
        expect(ran).toBe(valid ? 1 : 0);
      }),
      {
        numRuns: RUNS,
        examples: [
          ['ok', undefined, false],
          ['-x', undefined, false],
          ['a/b', 'x', false],
          ['a', '', false],
          ['a', '', true],
          ['a', 'x y', false],
          ['0', '-a', false],
          ['0', '-', false],
          ['0', '.', false],
          ['0', '..', true],
          ['0', '-a', true],
          ['0', '--', true],
        ],
      },
    );
    record({
      fault: 'fuzzed task/scope names',
      backend: 'file',
      runs,
      duplicates: wrongRuns,
      lostDone: 0,
      hangs: 0,
      ms: performance.now() - t0,
    });
  }, 120_000);

  it('durations: a malformed --lease or --wait-timeout is a usage error (64), never a crash', async () => {
    const t0 = performance.now();
    const duration = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789.msh -e+'), maxLength: 12 }),
      fc.tuple(fc.double({ noNaN: false }), fc.constantFrom('ms', 's', 'm', 'h', '', 'd')).map(([n, u]) => `${n}${u}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('--lease', '--wait-timeout'), duration, async (flag, value) => {
        const marker = join(scratch(), 'marker');
        const r = await runonce(
          ['exec', 'dur', `${flag}=${value}`, '--', 'sh', '-c', `echo ran >> ${marker}`],
          store.env(),
        );
        noCrash(r);
        expect([0, 64], `${flag}=${value}: ${r.stderr}`).toContain(r.code);
        expect(lines(marker).length).toBe(r.code === 0 ? 1 : 0);
      }),
      {
        numRuns: RUNS,
        examples: [
          ['--lease', '1s'],
          ['--lease', '0ms'],
          ['--lease', '1e3s'],
          ['--wait-timeout', '-1s'],
        ],
      },
    );
    record({
      fault: 'fuzzed durations',
      backend: 'file',
      runs: 0,
      duplicates: 0,
      lostDone: 0,
      hangs: 0,
      ms: performance.now() - t0,
    });
  }, 120_000);

  it('config files: garbage, wrong types or unknown keys are a configuration error (78) or accepted, never a crash', async () => {
    const t0 = performance.now();
    const content = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json().map((j) => j),
      fc
        .record(
          {
            backend: fc.oneof(fc.constantFrom('file', 'ssm', 'nope', ''), fc.integer()),
            // Whole numbers are milliseconds. 3-999 is a valid lease too short to outlast the command, so
            // its exit (0 or 75) depends on timing, not on parsing: the process tests cover lost leases.
            lease: fc.oneof(
              fc.constantFrom('1s', 'x', ''),
              fc.integer({ max: 2 }),
              fc.integer({ min: 1000 }),
              fc.constant(null),
            ),
            namespace: fc.oneof(nameLike, fc.boolean()),
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(content, fc.constantFrom('runonce.config.json', 'runonce.config.yaml'), async (text, name) => {
        const dir = scratch();
        const marker = join(dir, 'marker');
        writeFileSync(join(dir, name), text);
        // The config chooses the backend; the environment's namespace (it wins over the file) keeps cases apart.
        const { RUNONCE_BACKEND: _, ...base } = store.env();
        const env = { ...base, RUNONCE_CONFIG: join(dir, name) };
        const r = await runonce(['exec', 'cfg', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
        noCrash(r);
        expect([0, 64, 69, 78], `${name} ${JSON.stringify(text)}: ${r.stderr}`).toContain(r.code);
        expect(lines(marker).length).toBe(r.code === 0 ? 1 : 0);
      }),
      { numRuns: RUNS },
    );
    record({
      fault: 'fuzzed config files',
      backend: 'file',
      runs: 0,
      duplicates: 0,
      lostDone: 0,
      hangs: 0,
      ms: performance.now() - t0,
    });
  }, 120_000);

  it('a slot file truncated or replaced by garbage: exec exits 69 naming the slot, and does not run the command', async () => {
    const t0 = performance.now();
    const garbage = fc.oneof(
      fc.constant(''),
      fc.string({ maxLength: 50 }),
      fc.json(),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    let wrongRuns = 0;
    await fc.assert(
      fc.asyncProperty(garbage, async (text) => {
        const env = store.env();
        const marker = join(scratch(), 'marker');
        const first = await runonce(['exec', 'mig', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
        expect(first.code).toBe(0);
        const slot = findSlotFile(env.RUNONCE_FILE_DIR as string, env.RUNONCE_NAMESPACE as string);
        // Keep the valid prefix sometimes: a write cut short.
        const valid = readFileText(slot);
        writeFileSync(slot, text === '' ? valid.slice(0, Math.floor(valid.length / 2)) : text);
        const r = await runonce(['exec', 'mig', '--', 'sh', '-c', `echo again >> ${marker}`], env);
        noCrash(r);
        const again = lines(marker).includes('again');
        if (again) wrongRuns++;
        // The garbage may happen to be a valid slot (a JSON that decodes): then 0 without a run.
        expect([0, 69], r.stderr).toContain(r.code);
        expect(again).toBe(false);
        const s = await runonce(['status', 'mig', '--json'], env);
        noCrash(s);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    record({
      fault: 'corrupt slot file',
      backend: 'file',
      runs: 0,
      duplicates: wrongRuns,
      lostDone: 0,
      hangs: 0,
      ms: performance.now() - t0,
    });
  }, 120_000);
});

describe('bad input on ssm', () => {
  let store: Store;
  beforeAll(async () => {
    store = await startStore('ssm');
  }, 120_000);
  afterAll(() => store?.stop());

  it('a hand-edited parameter (attempt 1 set to "1", as the old flag script did): 69, the command not run', async () => {
    const t0 = performance.now();
    const require = createRequire(import.meta.resolve('@runonce/backend-ssm'));
    const { PutParameterCommand } = require('@aws-sdk/client-ssm');
    let wrongRuns = 0;
    for (const value of ['1', '{"state":"done"}', '{', 'null']) {
      const env = store.env();
      const marker = join(scratch(), 'marker');
      const ssm = createSsmBackend({
        endpoint: store.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        prefix: env.RUNONCE_SSM_PREFIX,
      });
      const name = slotName(env.RUNONCE_SSM_PREFIX as string, [env.RUNONCE_NAMESPACE as string, 'mig', 'initial'], 1);
      await ssm.client.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
      await ssm.close();
      const r = await runonce(['exec', 'mig', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
      noCrash(r);
      if (lines(marker).length) wrongRuns++;
      expect(r.code, `${value}: ${r.stderr}`).toBe(69);
      expect(r.stderr).toMatch(/did not write|corrupt|cannot|unreadable|not.*runonce/i);
      expect(lines(marker)).toEqual([]);
      const s = await runonce(['status', 'mig', '--json'], env);
      noCrash(s);
    }
    record({
      fault: 'hand-edited SSM parameter',
      backend: 'ssm',
      runs: 0,
      duplicates: wrongRuns,
      lostDone: 0,
      hangs: 0,
      ms: performance.now() - t0,
    });
  }, 120_000);
});

function readFileText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** The one attempt slot (a file named `1`) under a namespace of the file backend's directory. */
function findSlotFile(dir: string, namespace: string): string {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === '1' && p.includes(namespace) && p.includes('mig')) found.push(p);
    }
  };
  walk(dir);
  if (found.length !== 1) throw new Error(`expected one slot file, found ${JSON.stringify(found)}`);
  return found[0] as string;
}
