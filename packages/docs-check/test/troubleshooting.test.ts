import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '@runonce/core';
import { expect, it } from 'vitest';
import { ExitCode } from '../../cli/src/exit.ts';
import { docsDir } from './paths.ts';

const page = readFileSync(join(docsDir, 'troubleshooting.md'), 'utf8');

it('the troubleshooting page explains every error code', () => {
  const missing = Object.values(ErrorCode).filter((code) => !page.includes(`\`${code}\``));
  expect(missing, 'error codes with no entry in docs/troubleshooting.md').toEqual([]);
});

it('the troubleshooting page explains every exit code', () => {
  const missing = Object.values(ExitCode).filter((code) => !new RegExp(`^\\| \\*\\*${code}\\*\\* `, 'm').test(page));
  expect(missing, 'exit codes with no row in docs/troubleshooting.md').toEqual([]);
});
