import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELEASE, ROOT, run, scratch, VERSION } from './helpers.js';

// examples/codedeploy's BeforeInstall hook, given the release files as a
// CodeDeploy instance would reach them (file:// standing in for the bucket).
const script = join(ROOT, 'examples/codedeploy/scripts/install-runonce.sh');
const exe = `runonce-linux-${arch()}`;

function install(releaseUrl: string, dest: string, extra: Record<string, string> = {}) {
  return run('bash', [script], {
    env: { PATH: '/usr/bin:/bin', RUNONCE_RELEASE_URL: releaseUrl, RUNONCE_INSTALL_DIR: dest, ...extra },
  });
}

describe('examples/codedeploy/scripts/install-runonce.sh', () => {
  it('installs the executable after checking SHA256SUMS, and is a no-op the second time', async () => {
    const dest = join(scratch('hook-ok'), 'bin');
    const first = await install(`file://${RELEASE}`, dest);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`installed runonce ${VERSION}`);
    const version = await run(join(dest, 'runonce'), ['--version'], { env: {} });
    expect(version.stdout.trim()).toBe(VERSION);
    const again = await install(`file://${RELEASE}`, dest);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already at');
  });

  it('refuses a tampered executable and installs nothing', async () => {
    const release = scratch('hook-bad');
    for (const f of readdirSync(RELEASE))
      if (f === exe || f === 'SHA256SUMS') copyFileSync(join(RELEASE, f), join(release, f));
    writeFileSync(join(release, exe), 'not the file that was summed', { flag: 'a' });
    const dest = join(release, 'bin');
    const r = await install(`file://${release}`, dest);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('checksum mismatch');
    expect(existsSync(join(dest, 'runonce'))).toBe(false);
  });

  it('refuses a sum pinned in the revision that does not match', async () => {
    const dest = join(scratch('hook-pin'), 'bin');
    const r = await install(`file://${RELEASE}`, dest, { RUNONCE_SHA256: '0'.repeat(64) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('checksum mismatch');
    expect(existsSync(join(dest, 'runonce'))).toBe(false);
  });
});
