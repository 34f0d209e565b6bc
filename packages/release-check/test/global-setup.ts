import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/**
 * Every test here works from what `pnpm release:pack` writes, so it runs
 * first: the tarballs, the standalone executable and SHA256SUMS, exactly as a
 * maintainer would publish them. `--no-build`: `pnpm test` built everything
 * just before (set RUNONCE_RELEASE_BUILD=1 to build here too).
 */
export default function setup(): void {
  const t0 = performance.now();
  // Both executables: the other architecture's runs under qemu-user (scripts/test-services.sh installs it).
  const args = [join(ROOT, 'scripts/release-pack.mjs'), '--arch', 'x64,arm64'];
  if (process.env.RUNONCE_RELEASE_BUILD !== '1') args.push('--no-build');
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  process.stderr.write(`release-check: release:pack took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
