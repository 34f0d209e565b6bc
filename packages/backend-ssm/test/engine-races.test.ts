/**
 * The SSM backend under the engine: whole claims (read, create, history
 * check, run, done) raced by separate OS processes, and by contenders whose
 * calls are throttled. The create-level races are in race-processes.test.ts
 * and ssm.test.ts; these show that exactly one instance *runs the task*.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SSMClient } from '@aws-sdk/client-ssm';
import { RunOnce } from '@runonce/core';
import { awsTestClientConfig } from '@runonce/test-servers';
import { describe, expect, it } from 'vitest';
import { SsmBackend } from '../src/index.js';
import { endpoint, injectThrottling, lines, ns, testOptions } from './helpers.js';

const dist = new URL('../dist/index.js', import.meta.url);
const coreDist = new URL(import.meta.resolve('@runonce/core'));
const child = fileURLToPath(new URL('./fixtures/run-child.mjs', import.meta.url));

describe('the engine on SSM', () => {
  it('50 OS processes run one task at the same moment: exactly one runs it, all end done', {
    timeout: 180_000,
  }, async () => {
    expect(existsSync(dist), 'build the package first: pnpm build').toBe(true);
    const namespace = ns();
    const marker = join(mkdtempSync(join(tmpdir(), 'runonce-ssm-')), 'ran');
    const procs = Array.from({ length: 50 }, () =>
      spawn(process.execPath, [child, dist.href, coreDist.href, JSON.stringify(testOptions()), namespace, marker], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    try {
      const next = procs.map(lines);
      expect(await Promise.all(next.map((n) => n()))).toEqual(procs.map(() => 'ready'));
      for (const p of procs) p.stdin?.write('go\n');
      const results = (await Promise.all(next.map((n) => n()))).map(
        (l) => JSON.parse(l) as { state?: string; ranHere?: boolean; attempt?: number; error?: string },
      );
      expect(results.filter((r) => r.error)).toEqual([]);
      expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(1);
      expect(results.filter((r) => r.ranHere)).toHaveLength(1);
      expect(results.every((r) => r.state === 'done' && r.attempt === 1)).toBe(true);
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    }
  });

  it('20 contenders with 30% of SSM calls throttled: exactly one runs, every one ends done', {
    timeout: 120_000,
  }, async () => {
    const namespace = ns();
    const counter = { calls: 0, injected: 0 };
    const clients: SSMClient[] = [];
    const contenders = Array.from({ length: 20 }, (_, i) => {
      const client = new SSMClient({ ...awsTestClientConfig(endpoint()), maxAttempts: 1 });
      injectThrottling(client, counter);
      clients.push(client);
      const backend = new SsmBackend({
        ...testOptions(),
        client,
        throttleBaseDelayMs: 20,
        throttleMaxDelayMs: 500,
        throttleRetries: 20,
      });
      return new RunOnce({ backend, namespace, owner: `c${i}` });
    });
    let runs = 0;
    try {
      const outcomes = await Promise.all(
        contenders.map((r) =>
          r.run(
            't',
            async () => {
              runs++;
              await new Promise((res) => setTimeout(res, 300));
            },
            { scope: 's', lease: '10s' },
          ),
        ),
      );
      expect(runs).toBe(1);
      expect(outcomes.filter((o) => o.ranHere)).toHaveLength(1);
      expect(outcomes.every((o) => o.state === 'done' && o.attempt === 1)).toBe(true);
      expect(counter.injected).toBeGreaterThanOrEqual(Math.floor(counter.calls * 0.3) - 1);
      expect(counter.injected).toBeGreaterThan(10);
    } finally {
      await Promise.all(contenders.map((r) => r.close()));
      for (const c of clients) c.destroy();
    }
  });
});
