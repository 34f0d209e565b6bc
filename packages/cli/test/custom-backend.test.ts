import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lines, runonce, sandbox } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('a third-party backend named by --backend', () => {
  it('is imported, its ContainerModule loaded, and its factory given the config file’s backendOptions', async () => {
    const { env, work, marker } = sandbox();
    const journal = join(work, 'journal');
    writeFileSync(
      join(work, 'runonce.config.json'),
      JSON.stringify({
        backend: fixture('custom-backend.mjs'),
        backendOptions: { dir: join(work, 'custom'), journal },
      }),
    );
    const { RUNONCE_BACKEND: _, ...rest } = env;
    const r = await runonce(['exec', 'mig', '--', 'sh', '-c', `echo ran >> ${marker}`], rest, work);
    expect(r.code, r.stderr).toBe(0);
    expect((await runonce(['exec', 'mig', '--', 'sh', '-c', `echo ran >> ${marker}`], rest, work)).code).toBe(0);
    expect(lines(marker)).toEqual(['ran']);
    expect(lines(journal)).toEqual([`create ${env.RUNONCE_NAMESPACE}/mig/initial 1`]);
    const init = await runonce(['init'], rest, work);
    expect(init.stderr).toContain('custom backend ready');
  });

  it('a module without a backend ContainerModule → 78', async () => {
    const { env } = sandbox();
    const r = await runonce(['exec', 'mig', '--backend', fixture('not-a-backend.mjs'), '--', 'true'], env);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('exports no inversify ContainerModule');
  });
});
