import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runonceCalls } from '../src/commands/doctor/appspec.js';
import { runonce } from './helpers.js';

const EXAMPLE = new URL('../../../examples/codedeploy/', import.meta.url).pathname;

describe('runonce doctor --appspec', () => {
  it('finds the runonce calls in a hook script, across continuation lines, with defaults for absent flags', () => {
    const calls = runonceCalls(
      [
        '#!/bin/bash',
        '# runonce exec in a comment is not a call',
        'exec runonce exec django-migrate \\',
        '  --wait-timeout 25m \\',
        '  --lease=45s \\',
        '  -- python manage.py migrate',
        'runonce lock nightly -- ./report.sh',
      ].join('\n'),
    );
    expect(calls).toEqual([
      { line: 3, waitMs: 25 * 60_000, leaseMs: 45_000, graceMs: 10_000 },
      { line: 7, waitMs: 30 * 60_000, leaseMs: 30_000, graceMs: 10_000 },
    ]);
  });

  it("passes the example's appspec (which has no runas)", async () => {
    const r = await runonce(['doctor', '--appspec', join(EXAMPLE, 'appspec.yml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /ok {4}AfterInstall: scripts\/django-migrate.sh: timeout 1800 s ≥ 25m wait \+ 30s lease \+ 10s grace/,
    );
    expect(r.stdout).not.toMatch(/warn/);
  });

  it('fails a hook whose timeout is shorter than wait + lease + grace (78), with the --wait-timeout that fits, and warns on runas: root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runonce-appspec-'));
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts/migrate.sh'), 'exec runonce exec mig --wait-timeout 30m -- ./migrate\n');
    writeFileSync(join(dir, 'scripts/start.sh'), 'systemctl start app\n');
    writeFileSync(
      join(dir, 'appspec.yml'),
      [
        'version: 0.0',
        'os: linux',
        'hooks:',
        '  AfterInstall:',
        '    - location: scripts/migrate.sh',
        '      timeout: 1800',
        '      runas: root',
        '  ApplicationStart:',
        '    - location: scripts/start.sh',
        '      timeout: 60',
      ].join('\n'),
    );
    const r = await runonce(['doctor', '--appspec', 'appspec.yml'], {}, dir);
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(
      /FAIL {2}AfterInstall: scripts\/migrate.sh: timeout 1800 s < 30m wait \+ 30s lease \+ 10s grace \(line 1\) = 30m40s: give it --wait-timeout 29m or less/,
    );
    expect(r.stdout).toMatch(/warn {2}AfterInstall: scripts\/migrate.sh: runas: root wraps the script in su/);
    expect(r.stdout).not.toMatch(/start.sh/); // no runonce in it: not checked
  });

  it('a missing or malformed appspec is a configuration error (78), not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runonce-appspec-'));
    expect((await runonce(['doctor', '--appspec', 'nope.yml'], {}, dir)).code).toBe(78);
    writeFileSync(join(dir, 'bad.yml'), 'hooks: [1, 2]\n');
    const r = await runonce(['doctor', '--appspec', 'bad.yml'], {}, dir);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/hooks must be a map/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
