import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The e2e tests spawn the real, bundled binary: without a build there is nothing to test. */
export default function setup() {
  const bundle = fileURLToPath(new URL('../dist/bundle/runonce.js', import.meta.url));
  if (!existsSync(bundle)) {
    throw new Error(
      `${bundle} is missing: run \`pnpm build\` (or \`pnpm --filter @runonce/cli build\`) before the CLI tests`,
    );
  }
}
