// Bundles the CLI twice, from the same source:
//
//   dist/bundle/   what `@runonce/cli` ships on npm: an ES module entry plus
//                  one lazily imported chunk per command and per built-in
//                  backend (with its SDK), so the tarball has no runtime
//                  dependency and the file backend's skip path loads only
//                  the entry and the exec chunk. meta.json maps each output
//                  file to the packages inside it (the lazy-loading test
//                  reads it).
//   dist/sea/      for the standalone executable (a Node single executable
//                  application runs one CommonJS script and imports no
//                  files): runonce.cjs, the CLI and core, and under assets/
//                  one CommonJS file per lazily loaded package (each backend
//                  with its SDK, inversify, yaml), which the executable
//                  carries as assets and compiles on first use. sea-config.json
//                  names them for scripts/release-pack.mjs.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const out = (dir) => new URL(`./dist/${dir}`, import.meta.url);

const common = {
  entryPoints: { runonce: 'src/run.ts' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  // The SDKs' browser and React Native variants are never wanted here.
  mainFields: ['module', 'main'],
  conditions: ['node'],
  // pg's optional native binding (`pg.native`), never used: pure JS speaks the protocol.
  external: ['pg-native'],
};

rmSync(out('bundle'), { recursive: true, force: true });
rmSync(out('sea'), { recursive: true, force: true });

const npm = await build({
  ...common,
  // keeper.js: the process beside each command (src/keeper.ts); child.ts finds it beside the entry.
  entryPoints: { ...common.entryPoints, keeper: 'src/keeper.ts' },
  outdir: 'dist/bundle',
  splitting: true,
  format: 'esm',
  chunkNames: 'chunks/[name]-[hash]',
  // ioredis and the SDKs are CommonJS and require() Node's built-ins; an ES module has no require of its own.
  banner: {
    js: "import { createRequire as __runonceRequire } from 'node:module'; const require = __runonceRequire(import.meta.url);",
  },
  define: { RUNONCE_VERSION: JSON.stringify(version), RUNONCE_SEA_BUILD: 'false' },
  sourcemap: 'linked',
});
writeFileSync(out('bundle/meta.json'), JSON.stringify(packagesPerOutput(npm.metafile), null, 2));

// The standalone executable: a small main script, and each lazily imported
// package as an asset of its own (src/sea-assets.ts loads them).
const SEA_ASSETS = [
  '@runonce/backend-ssm',
  '@runonce/backend-dynamodb',
  '@runonce/backend-redis',
  '@runonce/backend-postgres',
  '@runonce/backend-s3',
  'inversify',
  'yaml',
];
const assetKey = (name) => `${name.replace(/^@runonce\//, '')}.cjs`;
const seaDefine = {
  RUNONCE_VERSION: JSON.stringify(version),
  RUNONCE_SEA_BUILD: 'true',
  SEA_ASSETS: JSON.stringify(SEA_ASSETS),
  // Only on paths the executable never takes (child.ts finds keeper.js from npm): CommonJS has no import.meta.
  'import.meta.url': JSON.stringify('file:///runonce-standalone-executable'),
};
const loader = fileURLToPath(new URL('./src/sea-assets.ts', import.meta.url));
/** Imports of the lazily loaded packages become `loadAsset(name)`; in assets, they stay requires the loader answers. */
const asAssets = (inAsset) => ({
  name: 'sea-assets',
  setup(b) {
    const filter = new RegExp(`^(${SEA_ASSETS.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')}|@runonce/core)$`);
    b.onResolve({ filter }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (inAsset) return { path: args.path, external: true };
      if (args.path === '@runonce/core') return undefined;
      return { path: args.path, namespace: 'sea-asset' };
    });
    b.onLoad({ filter: /.*/, namespace: 'sea-asset' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(loader)}).loadAsset(${JSON.stringify(args.path)});`,
      loader: 'js',
      resolveDir: dirname(loader),
    }));
  },
});

await build({
  ...common,
  outdir: 'dist/sea',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  define: seaDefine,
  plugins: [asAssets(false)],
  sourcemap: false,
});
const require = createRequire(import.meta.url);
await Promise.all(
  SEA_ASSETS.map(async (name) => {
    const outfile = `dist/sea/assets/${assetKey(name)}`;
    const r = await build({
      ...common,
      entryPoints: [require.resolve(name)],
      outfile,
      format: 'cjs',
      define: seaDefine,
      plugins: [asAssets(true)],
      sourcemap: false,
      metafile: false,
      write: false,
    });
    // An asset is compiled as a function, which has no import(): the SDKs' lazy
    // import() of Node's built-ins (node:http, node:async_hooks) become requires.
    const code = r.outputFiles[0].text.replace(/\bimport\(("node:[\w/]+")\)/g, 'Promise.resolve(require($1))');
    const left = code.match(/[^\w.$]import\([^)]{0,60}\)/);
    if (left) throw new Error(`${outfile}: a dynamic import the executable cannot run: ${left[0]}`);
    mkdirSync(out('sea/assets'), { recursive: true });
    writeFileSync(new URL(`./${outfile}`, import.meta.url), code);
  }),
);
writeFileSync(
  out('sea/sea-config.json'),
  JSON.stringify(
    {
      main: 'runonce.cjs',
      assets: Object.fromEntries(SEA_ASSETS.map((n) => [assetKey(n), `assets/${assetKey(n)}`])),
    },
    null,
    2,
  ),
);

/** For each output file: the npm packages (and runonce workspace packages) whose code it holds. */
function packagesPerOutput(metafile) {
  const result = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    const packages = new Set();
    for (const input of Object.keys(output.inputs)) {
      const pkg =
        input.match(/.*node_modules\/((?:@[^/]+\/)?[^/]+)\//)?.[1] ??
        input.match(/(?:^|\/)(backend-[^/]+|core)\/dist\//)?.[1];
      if (pkg) packages.add(/^(backend-|core$)/.test(pkg) ? `@runonce/${pkg}` : pkg);
    }
    result[file.replace(/^dist\/bundle\//, '')] = [...packages].sort();
  }
  return result;
}
