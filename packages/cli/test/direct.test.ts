import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { formatHelp, parseArgs } from '../src/args.js';
import { status } from '../src/commands/status/index.js';
import { resolveConfig } from '../src/config.js';
import { commands } from '../src/definitions.js';
import { exitCodeFor } from '../src/exit.js';
import type { Io } from '../src/io.js';
import { main } from '../src/main.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv = {}): Io & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (c) => {
    o += c;
  });
  stderr.on('data', (c) => {
    e += c;
  });
  const cwd = mkdtempSync(join(tmpdir(), 'runonce-direct-'));
  dirs.push(cwd);
  return { stdout, stderr, env: { RUNONCE_FILE_DIR: join(cwd, 'state'), ...env }, cwd, out: () => o, err: () => e };
}

describe('the parser', () => {
  it('takes options before and after the task, the command after -- or after the positionals', () => {
    const a = parseArgs(commands.exec, ['--lease', '1s', 't', '--shell', '--', 'ls', '-l']);
    expect(a).toMatchObject({ positionals: ['t'], options: { lease: '1s', shell: true }, command: ['ls', '-l'] });
    const b = parseArgs(commands.exec, ['t', '--scope=abc', 'ls', '--lease', '5s']);
    expect(b).toMatchObject({ positionals: ['t'], options: { scope: 'abc' }, command: ['ls', '--lease', '5s'] });
    expect(() => parseArgs(commands.exec, ['t', '--shell=yes', '--', 'x'])).toThrow(/takes no value/);
    expect(() => parseArgs(commands.exec, ['t', '--lease'])).toThrow(/needs a value/);
    // SPEC's argument rules: a separate-word value never starts with -, not even a lone one;
    // the inline form is how such a value is given.
    for (const v of ['--', '-', '-a']) {
      expect(() => parseArgs(commands.exec, ['t', '--scope', v, '--', 'x'])).toThrow(/needs a value/);
      expect(parseArgs(commands.exec, ['t', `--scope=${v}`, '--', 'x']).options.scope).toBe(v);
    }
    expect(() => parseArgs(commands.status, ['--jsn'])).toThrow(/unknown option --jsn/);
  });

  it('generates help from the same table', () => {
    const help = formatHelp(commands.lock);
    for (const o of commands.lock.options) expect(help).toContain(`--${o.name}`);
  });
});

describe('commands called directly', () => {
  it('status() writes JSON for a pending task', async () => {
    const x = io();
    const config = resolveConfig({ options: {} }, x);
    expect(await status({ tasks: ['t'], format: 'json', config }, x)).toBe(0);
    expect(JSON.parse(x.out())).toMatchObject({ task: 't', scope: 'initial', state: 'pending', attempts: [] });
  });

  it('main() maps typed errors to exit codes', async () => {
    const x = io();
    expect(await main(['exec', 'a b', '--', 'true'], x)).toBe(64);
    expect(x.err()).toMatch(/^runonce: invalid task name/);
    expect(exitCodeFor(new Error('bug'))).toBe(70);
  });
});
