// The bundles' entry: run the CLI on this process's arguments. No top-level
// await, so the same file is the entry of the CommonJS bundle inside the
// standalone executable.
import { main } from './main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Whatever a backend left open (a socket, a timer) must not keep a finished command alive.
  setTimeout(() => process.exit(code), 1000).unref();
});
