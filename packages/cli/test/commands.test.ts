import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/definitions.js';
import { lines, runonce, sandbox, start, until } from './helpers.js';

const json = async (args: string[], env: NodeJS.ProcessEnv, cwd?: string) => {
  const r = await runonce([...args, '--json'], env, cwd);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('reset', () => {
  it('--scope names the new generation; the next exec runs in it, and again after another reset', async () => {
    const { env, marker } = sandbox();
    const cmd = ['sh', '-c', `echo "$RUNONCE_SCOPE" >> ${marker}`];
    expect((await runonce(['exec', 'mig', '--', ...cmd], env)).code).toBe(0);
    const r = await runonce(['reset', 'mig', 'seed', '--scope', 'build-7'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/mig: generation 1: scope build-7/);
    expect(r.stderr).toMatch(/seed: generation 1: scope build-7/);
    expect((await runonce(['exec', 'mig', '--', ...cmd], env)).code).toBe(0);
    expect((await runonce(['exec', 'mig', '--', ...cmd], env)).code).toBe(0);
    expect((await runonce(['reset', 'mig'], env)).code).toBe(0);
    expect((await runonce(['exec', 'mig', '--', ...cmd], env)).code).toBe(0);
    const scopes = lines(marker);
    expect(scopes.slice(0, 2)).toEqual(['initial', 'build-7']);
    expect(scopes[2]).toMatch(/^gen-2-/);
    expect(await json(['status', 'mig'], env)).toMatchObject({ scope: scopes[2], state: 'done' });
  });
});

describe('exec --retries', () => {
  it('lets the next instance retry a failed attempt in the same scope, then no more', async () => {
    const { env, marker } = sandbox();
    const fail = ['--shell', '--', `echo "$RUNONCE_ATTEMPT" >> ${marker}; exit 4`];
    expect((await runonce(['exec', 'flaky', '--retries', '1', ...fail], env)).code).toBe(4);
    expect((await runonce(['exec', 'flaky', '--retries', '1', ...fail], env)).code).toBe(4);
    expect((await runonce(['exec', 'flaky', '--retries', '1', ...fail], env)).code).toBe(1);
    expect(lines(marker)).toEqual(['1', '2']);
  });
});

describe('status', () => {
  it('an object for one task, an array for several or for all; a table on request', async () => {
    const { env } = sandbox();
    expect((await runonce(['exec', 'a', '--', 'true'], env)).code).toBe(0);
    expect((await runonce(['exec', 'b', '--', 'false'], env)).code).toBe(1);
    const one = await json(['status', 'a'], env);
    expect(one).toEqual({
      namespace: env.RUNONCE_NAMESPACE,
      task: 'a',
      scope: 'initial',
      state: 'done',
      attempts: [
        {
          attempt: 1,
          owner: expect.any(String),
          state: 'done',
          startedAt: expect.any(String),
          finishedAt: expect.any(String),
          exitCode: 0,
          error: null,
        },
      ],
    });
    const all = await json(['status'], env);
    expect(all.map((s: { task: string; state: string }) => [s.task, s.state])).toEqual([
      ['a', 'done'],
      ['b', 'failed'],
    ]);
    const unknown = await json(['status', 'a', 'never-ran'], env);
    expect(unknown[1]).toMatchObject({ task: 'never-ran', state: 'pending', attempts: [] });
    const table = await runonce(['status', '--format', 'table'], env);
    expect(table.stdout).toMatch(/^TASK\s+SCOPE\s+STATE/);
    expect(table.stdout).toMatch(/\nb\s+initial\s+failed\s+1 failed .* 1\s/);
  });
});

describe('lock', () => {
  it('runs commands one at a time with increasing fencing tokens, and passes the exit code through', async () => {
    const { env, marker } = sandbox();
    const body = `echo "start $RUNONCE_FENCING_TOKEN" >> ${marker}; sleep 0.3; echo end >> ${marker}`;
    const runs = await Promise.all(
      Array.from({ length: 3 }, () => runonce(['lock', 'nightly', '--lease', '3s', '--shell', '--', body], env)),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const got = lines(marker);
    expect(got.filter((l) => l === 'end')).toHaveLength(3);
    for (let i = 0; i < got.length; i += 2) {
      expect(got[i]).toMatch(/^start \d+$/);
      expect(got[i + 1]).toBe('end');
    }
    const tokens = got.filter((l) => l.startsWith('start')).map((l) => Number(l.split(' ')[1]));
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(3);
    expect((await runonce(['lock', 'nightly', '--', 'sh', '-c', 'exit 9'], env)).code).toBe(9);
  });

  it('--on-busy skip exits 0 without running; fail exits 75', async () => {
    const { env, marker } = sandbox();
    const holder = start(['lock', 'l', '--shell', '--', `echo held >> ${marker}; sleep 2`], env);
    await until(() => lines(marker).length === 1, 'the lock to be held');
    const skip = await runonce(['lock', 'l', '--on-busy', 'skip', '--', 'sh', '-c', `echo no >> ${marker}`], env);
    expect(skip.code).toBe(0);
    expect((await runonce(['lock', 'l', '--on-busy', 'fail', '--', 'true'], env)).code).toBe(75);
    expect((await holder.done).code).toBe(0);
    expect(lines(marker)).toEqual(['held']);
  });
});

describe('release', () => {
  it('needs --force', async () => {
    const { env } = sandbox();
    expect((await runonce(['release', 'mig'], env)).code).toBe(64);
  });

  it('--force marks the running attempt abandoned: its runner stops the command (75) and the next exec takes over at once', async () => {
    const { env, marker } = sandbox();
    const runner = start(
      ['exec', 'mig', '--lease', '3s', '--kill-grace', '1s', '--shell', '--', `echo first >> ${marker}; exec sleep 30`],
      env,
    );
    await until(() => lines(marker).length === 1, 'the command to start');
    const r = await runonce(['release', 'mig', '--force', '--reason', 'host gone'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/released attempt 1 of .* with tombstone 2/);
    const next = await runonce(['exec', 'mig', '--lease', '3s', '--shell', '--', `echo second >> ${marker}`], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.ms).toBeLessThan(2500);
    const stopped = await runner.done;
    expect(stopped.code, stopped.stderr).toBe(75);
    expect(stopped.stderr).toMatch(/lease lost/);
    const s = await json(['status', 'mig'], env);
    // attempt 1 is left as its owner wrote it; the operator's tombstone is attempt 2, the taker 3
    expect(s.attempts.map((a: { state: string }) => a.state)).toEqual(['running', 'abandoned', 'done']);
    expect(s.attempts[1]).toMatchObject({ attempt: 2, reason: 'host gone', releases: 1 });
  });
});

describe('prune', () => {
  it('--keep N deletes the older scopes', async () => {
    const { env } = sandbox();
    for (const scope of ['s1', 's2', 's3'])
      expect((await runonce(['exec', 'mig', '--scope', scope, '--', 'true'], env)).code).toBe(0);
    const r = await runonce(['prune', '--keep', '1'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pruned 2 scope/);
    expect((await json(['status', 'mig', '--scope', 's1'], env)).state).toBe('pending');
    expect((await json(['status', 'mig', '--scope', 's3'], env)).state).toBe('done');
    expect((await runonce(['prune', '--keep', 'all'], env)).code).toBe(64);
  });
});

describe('init and doctor on the file backend', () => {
  it('init creates the state directory; doctor does a round trip and says what permissions it needs', async () => {
    const { env, dir } = sandbox();
    const init = await runonce(['init'], env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toContain(`created state directory ${dir}`);
    expect((await runonce(['init'], env)).stderr).toContain('exists; nothing to do');
    const doc = await runonce(['doctor'], env);
    expect(doc.code, doc.stdout + doc.stderr).toBe(0);
    expect(doc.stdout).toMatch(/ok {2}create \(claim\)/);
    expect(doc.stdout).toContain('all checks passed');
    expect(doc.stdout).toContain(`read/write on ${dir}`);
  });

  it('doctor exits 69 when the state directory cannot be used', async () => {
    const { env, work } = sandbox();
    writeFileSync(join(work, 'file'), '');
    const doc = await runonce(['doctor', '--dir', join(work, 'file', 'x')], env);
    expect(doc.code).toBe(69);
    expect(doc.stdout).toMatch(/FAIL/);
  });
});

describe('configuration', () => {
  it('flag > environment > config file > default', async () => {
    const { env, work } = sandbox();
    const { RUNONCE_NAMESPACE: _, ...noNs } = env;
    writeFileSync(join(work, 'runonce.config.yaml'), 'namespace: from-file\nlease: 2s\n');
    expect((await json(['status', 'x'], noNs, work)).namespace).toBe('from-file');
    expect((await json(['status', 'x'], { ...noNs, RUNONCE_NAMESPACE: 'from-env' }, work)).namespace).toBe('from-env');
    expect(
      (await json(['status', 'x', '--namespace', 'from-flag'], { ...noNs, RUNONCE_NAMESPACE: 'from-env' }, work))
        .namespace,
    ).toBe('from-flag');
    expect((await json(['status', 'x'], noNs)).namespace).toBe('default');
    const cfg = join(work, 'custom.json');
    writeFileSync(cfg, JSON.stringify({ namespace: 'from-json', dir: join(work, 'other-state') }));
    expect((await json(['status', 'x', '--config', cfg], noNs, work)).namespace).toBe('from-json');
    expect((await json(['status', 'x'], { ...noNs, RUNONCE_CONFIG: cfg }, work)).namespace).toBe('from-json');
  });
});

describe('help', () => {
  for (const name of Object.keys(commands)) {
    it(`${name} --help shows usage, options and an example`, async () => {
      const r = await runonce([name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: runonce ${name}`);
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toMatch(new RegExp(`\\n {2}runonce ${name} `));
    });
  }

  it('no command → 64 with the command list; an unknown command → 64', async () => {
    const none = await runonce([]);
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('Commands:');
    expect((await runonce(['exce', 't', '--', 'true'])).code).toBe(64);
    for (const flag of ['--version', '-V', '-v']) {
      const r = await runonce([flag]);
      expect({ flag, code: r.code, stdout: r.stdout }).toMatchObject({
        flag,
        code: 0,
        stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/),
      });
    }
  });
});

describe('log file', () => {
  it('appends across runs', async () => {
    const { env, work } = sandbox();
    const log = join(work, 'log');
    await runonce(['exec', 'a', '--log-file', log, '--', 'echo', 'one'], env);
    await runonce(['exec', 'a', '--log-file', log, '--', 'echo', 'two'], env);
    const text = readFileSync(log, 'utf8');
    expect(text).toContain('one\n');
    expect(text).toMatch(/done on .* skipping/);
    expect(text).not.toContain('two');
  });
});
