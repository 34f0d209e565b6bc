import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run } from './helpers.js';

// examples/codedeploy/scripts/runonce-env.sh, sourced as the hooks source it, against a stand-in for
// the instance metadata service (IMDSv2: a PUT for a token, then GETs that must carry it).
const ENV_SCRIPT = join(ROOT, 'examples/codedeploy/scripts/runonce-env.sh');

let imds: Server;
let imdsUrl: string;
const asked: string[] = [];
beforeAll(async () => {
  imds = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.end('tok-1');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'tok-1') {
      res.statusCode = 401;
      return void res.end();
    }
    if (req.url === '/latest/meta-data/placement/region') return void res.end('ap-southeast-2');
    if (req.url === '/latest/meta-data/instance-id') return void res.end('i-0abc123');
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r));
  imdsUrl = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
});
afterAll(() => imds?.close());

/** Source the script in sh with only `vars` (and PATH) set, and print what it exported. */
async function source(vars: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const script = `. ${ENV_SCRIPT}; echo "region=\${AWS_REGION:-} owner=\${RUNONCE_OWNER:-}"`;
  const r = await run('/bin/sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...vars } });
  return { code: r.code, out: r.stdout.trim(), err: r.stderr };
}

describe('examples/codedeploy/scripts/runonce-env.sh', () => {
  it("takes the region and the owner from the instance's metadata (IMDSv2), never a default", async () => {
    const r = await source({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('region=ap-southeast-2 owner=i-0abc123');
    expect(asked.filter((a) => a.startsWith('PUT'))).toHaveLength(1); // one token for both
  });

  it('asks nothing when both are set', async () => {
    asked.length = 0;
    const r = await source({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
      AWS_REGION: 'eu-central-1',
      RUNONCE_OWNER: 'me',
    });
    expect(r.out).toBe('region=eu-central-1 owner=me');
    expect(asked).toEqual([]);
  });

  it('with no metadata service and no region, an AWS backend stops the hook with a clear message (78)', async () => {
    // A closed port: refused at once, as off EC2 with the service unroutable it is at most the 1 s connect timeout.
    const r = await source({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9', RUNONCE_OWNER: 'me' });
    expect(r.code).toBe(78);
    expect(r.err).toMatch(/no AWS region.*Set AWS_REGION/);
    expect(r.out).toBe('');
  });

  it('the file backend needs no region', async () => {
    const r = await source({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
      RUNONCE_BACKEND: 'file',
      RUNONCE_OWNER: 'me',
    });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('region= owner=me');
  });
});
