#!/usr/bin/env node
// Cache compiled code between runs: the skip path of `runonce exec` is on every deploy's critical path.
import module from 'node:module';

module.enableCompileCache?.();
await import('../dist/bundle/runonce.js');
