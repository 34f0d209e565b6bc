import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileBackend } from '@runonce/core';
import { afterAll } from 'vitest';
import { defineContractSuite } from '../dist/index.js';

const root = mkdtempSync(join(tmpdir(), 'runonce-contract-file-'));
const dir = join(root, 'state');
// a regular file where the directory's parent should be: no directory can ever be made there
writeFileSync(join(root, 'not-a-directory'), '');

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

defineContractSuite({
  name: 'file',
  backend: async () => createFileBackend({ dir }),
  spawn: { module: '@runonce/core', exportName: 'createFileBackend', options: { dir } },
  watch: true,
  unreachable: async () => createFileBackend({ dir: join(root, 'not-a-directory', 'state') }),
});
