// The bundle's entry: run the CLI on this process's arguments.
import { main } from './main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Whatever a backend left open (a socket, a timer) must not keep a finished command alive.
setTimeout(() => process.exit(code), 1000).unref();
