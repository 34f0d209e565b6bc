import { join } from 'node:path';
import { expect, it } from 'vitest';
import { lines, runonce } from './helpers.js';

/**
 * The e2e cases every backend must pass through the real binary. `setup`
 * returns the environment that selects the backend (and a fresh namespace).
 */
export function backendE2e(setup: () => { env: NodeJS.ProcessEnv; work: string }): void {
  it('16 concurrent exec processes run the command exactly once, all exit 0, status says done', async () => {
    const { env, work } = setup();
    const marker = join(work, 'marker');
    const runs = await Promise.all(
      Array.from({ length: 16 }, () =>
        runonce(['exec', 'race', '--lease', '5s', '--shell', '--', `echo ran >> ${marker}; sleep 0.3`], env),
      ),
    );
    for (const r of runs) expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(lines(marker)).toEqual(['ran']);
    const status = await runonce(['status', 'race', '--json'], env);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s).toMatchObject({ task: 'race', state: 'done', scope: 'initial' });
    expect(s.attempts).toHaveLength(1);
    expect(s.attempts[0]).toMatchObject({ attempt: 1, state: 'done', exitCode: 0 });
  });

  it('a failed command: its code comes back, the next instance exits 1 without running it, reset runs it again', async () => {
    const { env, work } = setup();
    const marker = join(work, 'marker');
    const first = await runonce(['exec', 'mig', '--shell', '--', `echo ran >> ${marker}; exit 7`], env);
    expect(first.code).toBe(7);
    const second = await runonce(['exec', 'mig', '--shell', '--', `echo ran >> ${marker}`], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/failed on .* with exit code 7/);
    expect(lines(marker)).toEqual(['ran']);
    const s = JSON.parse((await runonce(['status', 'mig', '--json'], env)).stdout);
    expect(s).toMatchObject({ state: 'failed', attempts: [{ state: 'failed', exitCode: 7 }] });
    expect((await runonce(['reset', 'mig'], env)).code).toBe(0);
    const third = await runonce(['exec', 'mig', '--shell', '--', `echo again >> ${marker}`], env);
    expect(third.code).toBe(0);
    expect(lines(marker)).toEqual(['ran', 'again']);
  });
}
