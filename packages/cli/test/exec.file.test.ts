import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileBackend, encodeAttempt } from '@runonce/core';
import { describe, expect, it } from 'vitest';
import { lines, runonce, sandbox, start, until } from './helpers.js';
import { backendE2e } from './suite.js';

describe('exec on the file backend', () => {
  backendE2e(() => sandbox());

  it('a runner killed with SIGKILL is taken over after about one lease, as attempt 2', async () => {
    const { env, marker, work } = sandbox();
    const pidFile = join(work, 'pid');
    const runner = start(
      ['exec', 'mig', '--lease', '1s', '--shell', '--', `echo $$ > ${pidFile}; echo ran >> ${marker}; exec sleep 60`],
      env,
    );
    await until(
      () => lines(marker).length === 1 && lines(pidFile).length === 1,
      'the first runner to start its command',
    );
    runner.child.kill('SIGKILL');
    // The command is in its own process group; runonce's reaper must stop it once runonce is gone,
    // or the next instance would take over while it still runs.
    const commandPid = Number(readFileSync(pidFile, 'utf8'));
    await until(() => !alive(commandPid), 'the reaper to stop the orphaned command', 5000);
    await runner.done;

    const next = await runonce(['exec', 'mig', '--lease', '1s', '--shell', '--', `echo ran >> ${marker}`], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/taking over from .* \(attempt 1 stale\), running attempt 2/);
    expect(next.ms).toBeGreaterThan(900); // it waited for the lease to run out
    expect(lines(marker)).toEqual(['ran', 'ran']);
    const s = JSON.parse((await runonce(['status', 'mig', '--json'], env)).stdout);
    expect(s.state).toBe('done');
    expect(s.attempts.map((a: { attempt: number; state: string }) => [a.attempt, a.state])).toEqual([
      [1, 'running'],
      [2, 'done'],
    ]);
    // Stored as running, but superseded: status says so, with by whom and when.
    expect(s.attempts[0].takenOverBy).toMatchObject({ attempt: 2, released: false });
    expect(s.attempts[0].takenOverBy.owner).toBe(s.attempts[1].owner);
    const table = (await runonce(['status', 'mig', '--format', 'table'], env)).stdout;
    expect(table).toMatch(/1 taken over .*taken over by .* \(attempt 2\) at \d\d:\d\d:\d\d/);
  });

  it('--log-format json: every line runonce writes is one JSON object, through a run, a skip, a takeover and a failure', async () => {
    const { env: base, work } = sandbox();
    const env = { ...base, RUNONCE_LOG_FORMAT: 'json' };
    const parsed = (stderr: string) =>
      stderr
        .trim()
        .split('\n')
        .map((l) => {
          const o = JSON.parse(l);
          expect(o).toMatchObject({ level: expect.any(String), message: expect.any(String) });
          // (An error found before the settings were read has no namespace to give.)
          if (o.event !== 'error') expect(o.namespace).toBe(base.RUNONCE_NAMESPACE);
          expect(Number.isNaN(Date.parse(o.time))).toBe(false);
          return o;
        });
    const events = (stderr: string) => parsed(stderr).map((o) => o.event);

    // The command's own output is untouched: it is on stdout, and stderr holds only JSON.
    const run = await runonce(['exec', 'a', '--', 'sh', '-c', 'echo not json'], env);
    expect(run.stdout).toBe('not json\n');
    expect(events(run.stderr)).toEqual(['claimed', 'done']);
    expect(parsed(run.stderr)[1]).toMatchObject({ task: 'a', attempt: 1, durationMs: expect.any(Number) });
    expect(parsed((await runonce(['exec', 'a', '--', 'true'], env)).stderr)).toMatchObject([
      { event: 'skipped', reason: 'done', attempt: 1 },
    ]);

    const failed = await runonce(['exec', 'f', '--', 'sh', '-c', 'exit 3'], env);
    expect(parsed(failed.stderr)).toMatchObject([
      { event: 'claimed' },
      { event: 'failed', exitCode: 3, level: 'error' },
    ]);
    expect(parsed((await runonce(['exec', 'f', '--', 'true'], env)).stderr)).toMatchObject([
      { event: 'failed_elsewhere', exitCode: 3 },
    ]);

    // A takeover: the first runner is SIGKILLed while its command runs.
    const pidFile = join(work, 'json-pid');
    const first = start(['exec', 't', '--lease', '1s', '--shell', '--', `echo $$ > ${pidFile}; exec sleep 60`], env);
    await until(() => lines(pidFile).length === 1, 'the first runner to start its command');
    first.child.kill('SIGKILL');
    await first.done;
    const next = await runonce(['exec', 't', '--lease', '1s', '--', 'true'], env);
    expect(events(next.stderr)).toEqual(expect.arrayContaining(['takeover', 'done']));
    expect(parsed(next.stderr).find((o) => o.event === 'takeover')).toMatchObject({
      attempt: 2,
      previousAttempt: 1,
      previousState: 'running',
    });

    // Errors before anything runs too.
    expect(parsed((await runonce(['exec', 'bad name', '--', 'true'], env)).stderr)).toMatchObject([
      { event: 'error', code: 'E_USAGE', exitCode: 64 },
    ]);
  });

  it('status marks an attempt whose heartbeat stopped long ago as stuck, with the release command that frees it', async () => {
    const { env, dir } = sandbox();
    const namespace = env.RUNONCE_NAMESPACE as string;
    // What a runner frozen for an hour leaves behind: attempt 1 running, last heartbeat an hour old.
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const backend = createFileBackend({ dir });
    await backend.create([namespace, 'mig', 'v1'], 1, {
      ...encodeAttempt({ state: 'running', owner: 'i-0dead', startedAt: hourAgo, leaseMs: 30_000 }),
      heartbeatAt: hourAgo,
    });
    const table = await runonce(['status', 'mig', '--scope', 'v1', '--format', 'table'], env);
    expect(table.stdout).toMatch(
      new RegExp(
        `STUCK: no heartbeat for 1h\\S*; if its owner is gone: runonce release mig --force --scope v1 --namespace ${namespace}`,
      ),
    );
    const json = JSON.parse((await runonce(['status', 'mig', '--scope', 'v1', '--json'], env)).stdout);
    expect(json.attempts[0].stuck.silentForMs).toBeGreaterThan(3_590_000);
    // The command it prints works: the attempt is released, and status says so.
    const release = json.attempts[0].stuck.release.split(' ').slice(1);
    expect((await runonce(release, env)).code).toBe(0);
    const after = JSON.parse((await runonce(['status', 'mig', '--scope', 'v1', '--json'], env)).stdout);
    expect(after.attempts[0].stuck).toBeUndefined();
    expect(after.attempts[0].takenOverBy).toMatchObject({ attempt: 2, released: true });
  });

  it('doctor and status with stdout closed by the reader (`runonce doctor | head -1`): exit 0, no stack trace', async () => {
    const { env } = sandbox();
    for (const args of [['doctor'], ['status', '--json']]) {
      const p = start(args, env);
      p.child.stdout?.destroy();
      const r = await p.done;
      expect(r.stderr, args.join(' ')).not.toMatch(/EPIPE|\n\s+at /);
      expect(r.code, args.join(' ')).toBe(0);
    }
  });

  for (const tee of [false, true]) {
    it(`stdout and stderr closed by the reader (as the CodeDeploy agent does at a timeout)${tee ? ', with --log-file' : ''}: SIGTERM still records abandoned`, async () => {
      const { env, marker, work } = sandbox();
      // The command keeps writing (and ignores SIGPIPE, as a Python app that catches BrokenPipeError would).
      const cmd = `trap '' PIPE; trap 'echo term >> ${marker}; exit 143' TERM; echo started >> ${marker}; while :; do echo tick; echo tock >&2; sleep 0.02; done`;
      const logFile = join(work, 'hook.log');
      const runner = start(
        ['exec', 'mig', '--lease', '30s', ...(tee ? ['--log-file', logFile] : []), '--shell', '--', cmd],
        env,
      );
      await until(() => lines(marker).includes('started'), 'the command to start');
      runner.child.stdout?.destroy();
      runner.child.stderr?.destroy();
      await new Promise((r) => setTimeout(r, 200)); // writes into the closed pipes meanwhile
      runner.child.kill('SIGTERM');
      const r = await runner.done;
      expect(r.code).toBe(143);
      expect(lines(marker)).toEqual(['started', 'term']);
      const s = JSON.parse((await runonce(['status', 'mig', '--json'], env)).stdout);
      expect(s.attempts[0]).toMatchObject({ attempt: 1, state: 'abandoned', reason: 'interrupted: SIGTERM' });
      if (tee) expect(readFileSync(logFile, 'utf8')).toMatch(/interrupted by SIGTERM; attempt recorded abandoned/);
    });
  }

  it('SIGTERM reaches the command, the attempt is recorded abandoned, and the next exec takes over at once', async () => {
    const { env, marker } = sandbox();
    const cmd = `trap 'echo term >> ${marker}; exit 143' TERM; echo started >> ${marker}; while :; do sleep 0.05; done`;
    const runner = start(['exec', 'mig', '--lease', '30s', '--shell', '--', cmd], env);
    await until(() => lines(marker).includes('started'), 'the command to start');
    runner.child.kill('SIGTERM');
    const r = await runner.done;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/received SIGTERM: passing it to the command, SIGKILL in \d+s if it is still running/);
    expect(r.stderr).toMatch(/interrupted by SIGTERM; attempt recorded abandoned/);
    expect(lines(marker)).toEqual(['started', 'term']);
    const s = JSON.parse((await runonce(['status', 'mig', '--json'], env)).stdout);
    expect(s).toMatchObject({ state: 'pending', attempts: [{ attempt: 1, state: 'abandoned' }] });

    const next = await runonce(['exec', 'mig', '--lease', '30s', '--shell', '--', `echo next >> ${marker}`], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.ms).toBeLessThan(5000); // no waiting for the 30 s lease
    expect(next.stderr).toMatch(/attempt 1 abandoned\), running attempt 2/);
    expect(lines(marker)).toEqual(['started', 'term', 'next']);
  });

  it('SIGINT while waiting exits 130 without claiming anything', async () => {
    const { env, marker } = sandbox();
    const a = start(['exec', 'mig', '--shell', '--', `echo a >> ${marker}; sleep 1.5`], env);
    await until(() => lines(marker).length === 1, 'the first runner to start');
    const b = start(['exec', 'mig', '--', 'sh', '-c', `echo b >> ${marker}`], env);
    await until(() => b.stderr().includes('waiting for'), 'the second instance to wait');
    b.child.kill('SIGINT');
    const r = await b.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted by SIGINT; nothing was claimed/);
    expect((await a.done).code).toBe(0);
    expect(lines(marker)).toEqual(['a']);
  });

  it('a waiting instance exits 1 without running the command when the runner fails', async () => {
    const { env, marker } = sandbox();
    const a = start(['exec', 'mig', '--shell', '--', `echo a >> ${marker}; sleep 1; exit 5`], env);
    await until(() => lines(marker).length === 1, 'the first runner to start');
    const b = await runonce(['exec', 'mig', '--shell', '--', `echo b >> ${marker}`], env);
    expect((await a.done).code).toBe(5);
    expect(b.code, b.stderr).toBe(1);
    expect(b.stderr).toMatch(/failed on .* with exit code 5/);
    expect(lines(marker)).toEqual(['a']);
  });

  it('a done task is skipped with one line saying who ran it and when', async () => {
    const { env, marker } = sandbox();
    expect((await runonce(['exec', 'mig', '--owner', 'i-0abc', '--', 'true'], env)).code).toBe(0);
    const again = await runonce(['exec', 'mig', '--', 'sh', '-c', `echo ran >> ${marker}`], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^runonce: mig: done on i-0abc at \d\d:\d\d:\d\d \(attempt 1\), skipping\n$/);
    expect(lines(marker)).toEqual([]);
  });

  it('runs argv without a shell by default and gives the command RUNONCE_* variables', async () => {
    const { env, marker } = sandbox();
    const r = await runonce(
      [
        'exec',
        'vars',
        '--scope',
        'build-42',
        '--',
        'node',
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(marker)}, JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('RUNONCE_')))) + '\\n' + process.argv.slice(1).join('|'))`,
        'a b',
        '$HOME',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const [vars, argv] = readFileSync(marker, 'utf8').split('\n');
    expect(JSON.parse(vars as string)).toMatchObject({
      RUNONCE_TASK: 'vars',
      RUNONCE_NAMESPACE: env.RUNONCE_NAMESPACE,
      RUNONCE_SCOPE: 'build-42',
      RUNONCE_ATTEMPT: '1',
      RUNONCE_FENCING_TOKEN: '1',
    });
    expect(argv).toBe('a b|$HOME');
  });

  it('passes output through untouched and tees it, with runonce lines, to --log-file', async () => {
    const { env, work } = sandbox();
    const log = join(work, 'out.log');
    const r = await runonce(
      ['exec', 'tee', '--log-file', log, '--', 'sh', '-c', 'printf "out\\n"; printf "err\\n" >&2; exit 3'],
      env,
    );
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    const text = readFileSync(log, 'utf8');
    expect(text).toContain('out\n');
    expect(text).toContain('err\n');
    expect(text).toMatch(/runonce: tee: failed with exit code 3/);
  });

  it('--on-busy skip exits 0 and --on-busy fail exits 75 while another instance runs it', async () => {
    const { env, marker } = sandbox();
    const a = start(['exec', 'busy', '--shell', '--', `echo a >> ${marker}; sleep 2`], env);
    await until(() => lines(marker).length === 1, 'the first runner to start');
    const skip = await runonce(['exec', 'busy', '--on-busy', 'skip', '--', 'sh', '-c', `echo b >> ${marker}`], env);
    expect(skip.code).toBe(0);
    expect(skip.stderr).toMatch(/skipping \(--on-busy skip\)/);
    const fail = await runonce(['exec', 'busy', '--on-busy', 'fail', '--', 'true'], env);
    expect(fail.code).toBe(75);
    const timeout = await runonce(['exec', 'busy', '--wait-timeout', '300ms', '--', 'true'], env);
    expect(timeout.code).toBe(75);
    expect((await a.done).code).toBe(0);
    expect(lines(marker)).toEqual(['a']);
  });

  it('a command that cannot be started fails with 127 and is recorded failed', async () => {
    const { env } = sandbox();
    const r = await runonce(['exec', 'nocmd', '--', 'definitely-not-a-command-xyz'], env);
    expect(r.code).toBe(127);
    const s = JSON.parse((await runonce(['status', 'nocmd', '--json'], env)).stdout);
    expect(s).toMatchObject({ state: 'failed', attempts: [{ exitCode: 127 }] });
  });
});

describe('bad input never runs the command', () => {
  const cases: Array<[string, string[], number]> = [
    ['bad task name', ['exec', 'bad/name', '--'], 64],
    ['bad scope', ['exec', 'ok', '--scope', 'a b', '--'], 64],
    ['unknown flag', ['exec', 'ok', '--lese', '1s', '--'], 64],
    ['bad duration', ['exec', 'ok', '--lease', '10 minutes', '--'], 64],
    ['bad on-busy', ['exec', 'ok', '--on-busy', 'later', '--'], 64],
    ['bad retries', ['exec', 'ok', '--retries', '-1', '--'], 64],
  ];
  for (const [what, args, code] of cases) {
    it(`${what} → ${code}`, async () => {
      const { env, marker } = sandbox();
      const r = await runonce([...args, 'sh', '-c', `echo ran >> ${marker}`], env);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(/^runonce: /);
      expect(lines(marker)).toEqual([]);
    });
  }

  it('missing command → 64', async () => {
    const { env } = sandbox();
    expect((await runonce(['exec', 'ok'], env)).code).toBe(64);
    expect((await runonce(['exec', 'ok', '--'], env)).code).toBe(64);
    expect((await runonce(['exec'], env)).code).toBe(64);
  });

  it('bad environment value → 64, naming the variable', async () => {
    const { env, marker } = sandbox();
    const r = await runonce(['exec', 'ok', '--', 'sh', '-c', `echo ran >> ${marker}`], {
      ...env,
      RUNONCE_LEASE: 'soon',
    });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('RUNONCE_LEASE');
    expect(lines(marker)).toEqual([]);
  });

  it('malformed config files → 78, naming the bad key', async () => {
    const { env, marker, work } = sandbox();
    const cmd = ['sh', '-c', `echo ran >> ${marker}`];
    writeFileSync(join(work, 'runonce.config.json'), '{ "lease": ');
    let r = await runonce(['exec', 'ok', '--', ...cmd], env, work);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/not valid JSON/);

    writeFileSync(join(work, 'runonce.config.json'), JSON.stringify({ leese: '1s' }));
    r = await runonce(['exec', 'ok', '--', ...cmd], env, work);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('unknown key "leese"');

    writeFileSync(join(work, 'runonce.config.json'), JSON.stringify({ waitTimeout: 'forever' }));
    r = await runonce(['exec', 'ok', '--', ...cmd], env, work);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('waitTimeout');

    const yaml = join(work, 'other.yaml');
    writeFileSync(yaml, 'backend: file\nonBusy: sometimes\n');
    r = await runonce(['exec', 'ok', '--config', yaml, '--', ...cmd], env, work);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('onBusy');

    r = await runonce(['exec', 'ok', '--config', join(work, 'missing.json'), '--', ...cmd], env, work);
    expect(r.code).toBe(78);
    expect(lines(marker)).toEqual([]);
  });

  it('an unusable backend → 69 quickly', async () => {
    const { env, marker, work } = sandbox();
    writeFileSync(join(work, 'not-a-dir'), '');
    const r = await runonce(
      ['exec', 'ok', '--dir', join(work, 'not-a-dir', 'state'), '--', 'sh', '-c', `echo ran >> ${marker}`],
      env,
    );
    expect(r.code, r.stderr).toBe(69);
    expect(r.ms).toBeLessThan(15_000);
    expect(lines(marker)).toEqual([]);
  });

  it('a state directory that cannot be created (under /proc, through a file) → 69 with the reason, no hang', async () => {
    const { env, marker, work } = sandbox();
    writeFileSync(join(work, 'a-file'), '');
    // /proc/nope once spun for ever: Node's recursive mkdir retries a mkdir that answers ENOENT under an existing parent
    for (const dir of ['/proc/nope', '/proc/nope/deeper', join(work, 'a-file', 'x', 'y')]) {
      const r = await runonce(['exec', 'ok', '--dir', dir, '--', 'sh', '-c', `echo ran >> ${marker}`], env);
      expect({ dir, code: r.code }).toEqual({ dir, code: 69 });
      expect(r.stderr).toContain(`cannot use directory ${dir}`);
      expect(r.ms, dir).toBeLessThan(10_000); // a guard against the hang, not a speed target
    }
    expect(lines(marker)).toEqual([]);
  });

  it('an option never takes `--` or a flag as its value, and an empty value is refused from flags and environment alike', async () => {
    const { env, marker } = sandbox();
    const cmd = ['sh', '-c', `echo ran >> ${marker}`];
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['exec', 't', '-s', '--', ...cmd], {}, /--scope needs a value <id> \(got "--"/],
      [['exec', 't', '--scope', '--', ...cmd], {}, /--scope needs a value/], // `--scope $UNSET -- cmd`
      [['exec', 't', '--scope', '--lease', '5s', '--', ...cmd], {}, /--scope needs a value .*"--lease"/],
      [['exec', 't', '--scope', '', '--', ...cmd], {}, /--scope is empty/],
      [['exec', 't', '--scope=', '--', ...cmd], {}, /--scope is empty/],
      [['exec', 't', '--', ...cmd], { RUNONCE_SCOPE: '' }, /RUNONCE_SCOPE is set but empty/],
      [['exec', 't', '--', ...cmd], { RUNONCE_BACKEND: '' }, /RUNONCE_BACKEND is set but empty/],
    ];
    for (const [args, extra, message] of cases) {
      const r = await runonce(args, { ...env, ...extra });
      expect({ args, extra, code: r.code }).toEqual({ args, extra, code: 64 });
      expect(r.stderr).toMatch(message);
    }
    expect(lines(marker)).toEqual([]);
    expect((await runonce(['exec', 't', '--scope', 'v1', '--', ...cmd], env)).code).toBe(0);
    expect(lines(marker)).toEqual(['ran']);
  });

  it('says what to do next: a failure found elsewhere names reset and --retries; status of a task never run says so; commands keep their quoting', async () => {
    const { env } = sandbox();
    const failed = await runonce(['exec', 'mig', '--', 'sh', '-c', 'exit 3'], env);
    expect(failed.stderr).toContain("running: sh -c 'exit 3'");
    const elsewhere = await runonce(['exec', 'mig', '--', 'true'], env);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('`runonce reset mig` arms a new deployment (or --retries <n>');
    const shell = await runonce(['exec', 'sh1', '--shell', '--', 'echo migrating; sleep 0'], env);
    expect(shell.stderr).toContain("running: sh -c 'echo migrating; sleep 0'");
    const quoted = await runonce(['exec', 'q', '--', 'sh', '-c', "echo 'it''s'"], env);
    expect(quoted.stderr).toContain(`running: sh -c 'echo '\\''it'\\'''\\''s'\\'''`);
    const never = await runonce(['status', 'never', '--format', 'table'], env);
    expect(never.stdout).toMatch(/never\s+initial\s+pending\s+-\s+never ran in this scope/);
  });

  it('a typo of a built-in backend → 64 with a suggestion, and nothing imported or run', async () => {
    const { env, work, marker } = sandbox();
    // a package by that name beside the CLI would be imported if the name were taken for a package
    const r = await runonce(
      ['exec', 'ok', '--backend', 'dynamo', '--', 'sh', '-c', `echo ran >> ${marker}`],
      env,
      work,
    );
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toContain('unknown backend "dynamo" (did you mean dynamodb?)');
    expect(r.stderr).toContain('file, ssm, dynamodb, redis');
    expect(r.stderr).not.toContain('install');
    expect(lines(marker)).toEqual([]);
    const plain = await runonce(['exec', 'ok', '--backend', 'mybackend', '--', 'true'], env, work);
    expect(plain.code).toBe(64);
    expect(plain.stderr).toContain('unknown backend "mybackend":');
  });

  it('an unknown backend package → 78 saying it is not installed', async () => {
    const { env } = sandbox();
    const r = await runonce(['exec', 'ok', '--backend', 'runonce-backend-nope', '--', 'true'], env);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('not installed');
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
