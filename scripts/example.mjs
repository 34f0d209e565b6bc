// pnpm example <name>: runs examples/<name>/run.sh or examples/<name>/index.mjs
// and exits with its status. Without a name, lists the runnable examples.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', 'examples');
const entry = (name) =>
  [
    ['bash', join(root, name, 'run.sh')],
    [process.execPath, join(root, name, 'index.mjs')],
  ].find(([, file]) => existsSync(file));
const runnable = readdirSync(root).filter((name) => entry(name));

const name = process.argv[2];
const found = name && !name.includes('/') && entry(name);
if (!found) {
  console.error(
    `${name ? `no runnable example "${name}". ` : ''}Usage: pnpm example <name>, one of: ${runnable.join(', ')}`,
  );
  process.exit(name ? 64 : 0);
}
const [command, file] = found;
const { status, signal } = spawnSync(command, [file, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(status ?? (signal ? 128 : 1));
