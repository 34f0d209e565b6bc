import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostEnv, ROOT, run, scratch } from './helpers.js';

// `bash scripts/quickstart.sh` as a newcomer runs it: in a copy of the
// repository with no node_modules and no build, with only the system's tools
// on PATH (on these machines: Node 20 and its npm), its tools going into a
// prefix of its own. It must install Node 24 and pnpm there, build, and show
// one run, two waits and a skip.
describe('scripts/quickstart.sh', () => {
  it('from a bare copy: installs what is missing, builds, one instance runs, two wait, a fourth skips', async () => {
    const copy = scratch('quickstart-repo');
    const tools = join(scratch('quickstart-tools'), 'prefix');
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter(Boolean);
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      try {
        copyFileSync(join(ROOT, f), join(copy, f));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted in the work tree, not yet in git
      }
    }
    const systemNode = await run('node', ['-p', 'process.versions.node'], { env: { PATH: '/usr/bin:/bin' } }).catch(
      () => ({ stdout: '0.0.0' }),
    );
    const [major = 0, minor = 0] = systemNode.stdout.trim().split('.').map(Number);
    const nodeMissing = major < 22 || (major === 22 && minor < 12);

    // One stream, as a terminal shows it, so the order of what it says can be checked.
    const r = await run('bash', ['-c', 'bash scripts/quickstart.sh 2>&1'], {
      cwd: copy,
      env: { ...hostEnv(), PATH: '/usr/bin:/bin', RUNONCE_TOOLS_PREFIX: tools },
      timeoutMs: 290_000,
    });
    const out = r.stdout;
    expect(r.code, out).toBe(0);
    if (nodeMissing) expect(out).toContain(`installing Node.js 24 into ${tools}`);
    else expect(out).not.toContain('installing Node.js 24');
    expect(out).toContain('node v24.');
    expect(out).toContain('pnpm 12.4.2');
    const [together = '', later = ''] = out.split('a fourth instance');
    // three at once: one ran it (once), two waited and took its outcome
    expect(together.match(/\] migrating \(attempt 1\)/g)).toHaveLength(1);
    expect(together.match(/db-migration: done in /g)).toHaveLength(1);
    expect(together.match(/db-migration: waiting for instance-\d/g)).toHaveLength(2);
    expect(together.match(/db-migration: done on instance-\d .*skipping/g)).toHaveLength(2);
    // the fourth skipped without running it, then status shows the one attempt
    expect(later).not.toContain('migrating');
    expect(later.match(/db-migration: done on instance-\d .*skipping/g)).toHaveLength(1);
    expect(later).toMatch(/what the store holds:[\s\S]*db-migration[\s\S]*done/);
    // quiet: none of the tools' banners
    expect(out).not.toMatch(/telemetry|update available|Update available/i);
  }, 300_000);
});
