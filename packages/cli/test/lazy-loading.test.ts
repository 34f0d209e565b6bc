import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN, sandbox } from './helpers.js';

const trace = fileURLToPath(new URL('./fixtures/trace-packages.mjs', import.meta.url));

/** The packages a runonce process resolved, from the trace hook's last line. */
function packagesLoaded(args: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', trace, BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', () => {
      const line = err.split('\n').find((l) => l.startsWith('[packages] '));
      if (!line) reject(new Error(`no trace in: ${err}`));
      else resolve(JSON.parse(line.slice('[packages] '.length)));
    });
  });
}

describe('only the chosen backend is loaded', () => {
  it('the file backend skip path loads core and nothing else (no inversify, yaml or SDK)', async () => {
    const { env } = sandbox();
    expect(await packagesLoaded(['exec', 't', '--', 'true'], env)).toEqual(['@runonce/core']);
    expect(await packagesLoaded(['exec', 't', '--', 'true'], env)).toEqual(['@runonce/core']);
  });

  it('the bundle holds every built-in backend with its SDK, each in chunks of its own', () => {
    const meta: Record<string, string[]> = JSON.parse(
      readFileSync(new URL('../dist/bundle/meta.json', import.meta.url), 'utf8'),
    );
    const home = (pkg: string) => Object.keys(meta).filter((file) => meta[file]?.includes(pkg));
    for (const pkg of [
      '@runonce/backend-ssm',
      '@aws-sdk/client-ssm',
      '@runonce/backend-dynamodb',
      '@aws-sdk/client-dynamodb',
      '@runonce/backend-redis',
      'ioredis',
      'inversify',
      'yaml',
    ]) {
      expect(home(pkg), pkg).not.toEqual([]);
      expect(home(pkg), pkg).not.toContain('runonce.js');
    }
    expect(home('@aws-sdk/client-ssm')).not.toEqual(home('@aws-sdk/client-dynamodb'));
  });

  it('redis loads ioredis and inversify, no AWS SDK', async () => {
    const { env } = sandbox();
    const loaded = await packagesLoaded(['status', '--backend', 'redis', '--redis-url', 'redis://127.0.0.1:1'], env);
    expect(loaded).toEqual(expect.arrayContaining(['@runonce/backend-redis', 'ioredis', 'inversify']));
    expect(
      loaded.filter((p) => p.startsWith('@aws-sdk/') || p.includes('backend-ssm') || p.includes('backend-dynamodb')),
    ).toEqual([]);
  });

  it('dynamodb loads the DynamoDB client, not SSM or ioredis', async () => {
    const { env } = sandbox();
    const loaded = await packagesLoaded(['status', 'x', '--backend', 'dynamodb'], {
      ...env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
    });
    expect(loaded).toEqual(expect.arrayContaining(['@aws-sdk/client-dynamodb', 'inversify']));
    expect(loaded).not.toContain('@aws-sdk/client-ssm');
    expect(loaded).not.toContain('ioredis');
  });
});
