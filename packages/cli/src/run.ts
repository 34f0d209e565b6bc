// The bundles' entry: run the CLI on this process's arguments. No top-level
// await, so the same file is the entry of the CommonJS bundle inside the
// standalone executable.
import { main } from './main.js';

// The standalone executable is also the keeper of the commands it runs (keeper.ts, child.ts).
if (process.argv[2] === '__supervise') {
  void import('./keeper.js');
} else {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Whatever a backend left open (a socket, a timer) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 1000).unref();
  });
}
