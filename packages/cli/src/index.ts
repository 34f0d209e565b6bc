/** The CLI as a library: the option tables (for the generated reference) and the commands, callable directly. */
export { type CommandDef, formatHelp, type OptionDef, type ParsedArgs, parseArgs } from './args.js';
export { BackendFactoryId, BUILTIN_BACKENDS, openBackend } from './backend.js';
export { type CliConfig, resolveConfig } from './config.js';
export { backendOptions, type CommandName, commands, formatMainHelp } from './definitions.js';
export { ExitCode, exitCodeFor } from './exit.js';
export type { Io } from './io.js';
export { main } from './main.js';
