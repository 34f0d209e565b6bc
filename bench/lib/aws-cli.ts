/**
 * The AWS CLI for the hand-written pattern, in this order: RUNONCE_BENCH_AWS
 * (a path); Debian's `awscli` package (/usr/bin/aws), which is what the
 * hand-written hooks run on the instances this replaces; any `aws` on PATH;
 * else install Debian's package (as root: apt-get install, after
 * apt-get update if needed). When none can be had, say why: the parts that
 * need it are then left out and the rest of the bench still runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const DEBIAN_AWS = '/usr/bin/aws';

export type AwsCli = { ok: true; path: string; version: string } | { ok: false; why: string };

function which(): string | undefined {
  if (process.env.RUNONCE_BENCH_AWS) return process.env.RUNONCE_BENCH_AWS;
  if (existsSync(DEBIAN_AWS)) return DEBIAN_AWS;
  const r = spawnSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

function version(path: string): string | undefined {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', env: { ...process.env, AWS_PAGER: '' } });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim().split(/\s+/)[0] : undefined;
}

export function findOrInstallAwsCli(log: (line: string) => void): AwsCli {
  let path = which();
  if (!path) {
    if (process.getuid?.() !== 0) {
      return {
        ok: false,
        why: '`aws` is not on PATH and this is not root: install it with `apt-get install -y awscli`',
      };
    }
    log('aws CLI missing: apt-get install -y awscli');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', '-qq', 'awscli'], { encoding: 'utf8', env });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env });
      r = spawnSync('apt-get', ['install', '-y', '-qq', 'awscli'], { encoding: 'utf8', env });
    }
    path = which();
    if (!path)
      return { ok: false, why: `apt-get install -y awscli failed: ${(r.stderr || r.stdout || '').trim().slice(-300)}` };
  }
  const v = version(path);
  if (!v) return { ok: false, why: `${path} --version failed` };
  return { ok: true, path, version: v };
}
