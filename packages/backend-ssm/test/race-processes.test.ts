import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backend, lines, ns, testOptions } from './helpers.js';

const PROCESSES = 50;
const dist = new URL('../dist/index.js', import.meta.url);
const child = fileURLToPath(new URL('./fixtures/create-child.mjs', import.meta.url));

describe('a create race across OS processes', () => {
  it(`${PROCESSES} processes claim slot 1 of one key at the same moment: exactly one winner`, {
    timeout: 120_000,
  }, async () => {
    expect(existsSync(dist), 'build the package first: pnpm build').toBe(true);
    const key = [ns(), 'db-migration', 'release-1'];
    const options = testOptions();
    const procs = Array.from({ length: PROCESSES }, () =>
      spawn(process.execPath, [child, dist.href, JSON.stringify(options), JSON.stringify(key)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    try {
      const next = procs.map(lines);
      // everyone loaded the SDK and opened a connection: then all go at once
      expect(await Promise.all(next.map((n) => n()))).toEqual(procs.map(() => 'ready'));
      for (const p of procs) p.stdin?.write('go\n');
      const results = (await Promise.all(next.map((n) => n()))).map(
        (l) => JSON.parse(l) as { won?: boolean; owner?: string; error?: string },
      );
      expect(results.filter((r) => r.error)).toEqual([]);
      const winners = results.filter((r) => r.won === true);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.won === false)).toHaveLength(PROCESSES - 1);
      const reader = backend();
      expect((await reader.read(key)).map((s) => s.value)).toEqual([{ owner: winners[0]?.owner }]);
      await reader.close();
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    }
  });
});
