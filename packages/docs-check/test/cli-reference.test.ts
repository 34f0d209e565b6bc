import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { cliReferencePath, renderCliReference } from '../../../scripts/gen-cli-reference.ts';

it('docs/reference/cli.md is what the CLI option tables generate (else run pnpm docs:gen)', () => {
  const committed = readFileSync(cliReferencePath, 'utf8');
  expect(committed, 'docs/reference/cli.md is out of date: run pnpm docs:gen').toBe(renderCliReference());
});
