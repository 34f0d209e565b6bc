#!/usr/bin/env node
// Written to parse on any Node that runs ES modules: the version check below
// must get to speak before the bundle (which needs Node 22.12) is loaded, and
// before anything is claimed or run.
import module from 'node:module';

const NEEDED = [22, 12];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < NEEDED[0] || (major === NEEDED[0] && minor < NEEDED[1])) {
  process.stderr.write(
    `runonce: needs Node.js ${NEEDED.join('.')} or later, this is ${process.version} (${process.execPath}); ` +
      'install Node.js 24 (nvm install 24, or your system packages), or use the standalone executable ' +
      'runonce-linux-x64, which needs no Node.js (docs/install.md). Nothing was run.\n',
  );
  // 69 (EX_UNAVAILABLE): what runonce needed is not there, and the command was not run.
  process.exit(69);
}

// Cache compiled code between runs: the skip path of `runonce exec` is on every deploy's critical path.
if (typeof module.enableCompileCache === 'function') module.enableCompileCache();
try {
  await import('../dist/bundle/runonce.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/bundle/runonce.js')) throw e;
  process.stderr.write('runonce: the CLI is not built (dist/bundle is missing): run `pnpm build`\n');
  process.exitCode = 70;
}
