#!/usr/bin/env node
// Cache compiled code between runs: the skip path of `runonce exec` is on every deploy's critical path.
import module from 'node:module';

module.enableCompileCache?.();
try {
  await import('../dist/bundle/runonce.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/bundle/runonce.js')) throw e;
  process.stderr.write('runonce: the CLI is not built (dist/bundle is missing): run `pnpm build`\n');
  process.exitCode = 70;
}
