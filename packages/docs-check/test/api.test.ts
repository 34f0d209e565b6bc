import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { docsDir } from './paths.ts';

/**
 * docs/reference/api.md documents each entry point under a `## \`<specifier>\``
 * heading, one table row per runtime export whose first cell is the name in
 * backticks. Types vanish at run time, so they are not checked here (tsc checks
 * the code that uses them).
 */
function documented(): Map<string, Set<string>> {
  const page = readFileSync(join(docsDir, 'reference/api.md'), 'utf8');
  const sections = new Map<string, Set<string>>();
  let names: Set<string> | undefined;
  for (const line of page.split('\n')) {
    const heading = /^## `(@runonce\/[^`]+)`/.exec(line);
    if (heading) {
      names = new Set();
      sections.set(heading[1] as string, names);
      continue;
    }
    if (line.startsWith('## ')) names = undefined;
    const row = /^\| `([A-Za-z_$][\w$]*)` +\|/.exec(line);
    if (row && names) names.add(row[1] as string);
  }
  return sections;
}

it.each(['@runonce/core', '@runonce/core/testing', '@runonce/core/otel'])(
  'every runtime export of %s is documented, and nothing else',
  async (specifier) => {
    const exported = Object.keys(await import(specifier)).sort();
    const names = documented().get(specifier);
    expect(names, `docs/reference/api.md has no "## \`${specifier}\`" section`).toBeDefined();
    const listed = [...(names as Set<string>)].sort();
    expect(
      exported.filter((n) => !listed.includes(n)),
      'exported but not documented in docs/reference/api.md',
    ).toEqual([]);
    expect(
      listed.filter((n) => !exported.includes(n)),
      'documented in docs/reference/api.md but not exported',
    ).toEqual([]);
  },
);
