import { RunOnceError, UsageError } from '@runonce/core';
import { type CommandDef, formatHelp, type ParsedArgs, parseArgs } from './args.js';
import { type CliConfig, needsYaml, preloadYaml, resolveConfig } from './config.js';
import { type CommandName, commands, formatMainHelp } from './definitions.js';
import { ExitCode, exitCodeFor } from './exit.js';
import { type Io, processIo } from './io.js';

declare const RUNONCE_VERSION: string | undefined;
const VERSION = typeof RUNONCE_VERSION === 'string' ? RUNONCE_VERSION : 'dev';

/**
 * The entry: parse, resolve the configuration, import only the command asked
 * for, and map whatever it throws to an exit code in one place.
 */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      if (topic && topic in commands) io.stdout.write(formatHelp(commands[topic as CommandName]));
      else (name === undefined ? io.stderr : io.stdout).write(formatMainHelp(VERSION));
      return name === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (name === '--version' || name === '-V' || name === '-v') {
      io.stdout.write(`${VERSION}\n`);
      return ExitCode.ok;
    }
    if (!(name in commands)) {
      throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}`);
    }
    const def: CommandDef = commands[name as CommandName];
    const args = parseArgs(def, rest);
    if (args.help) {
      io.stdout.write(formatHelp(def));
      return ExitCode.ok;
    }
    if (needsYaml(args.options, io.env, io.cwd)) await preloadYaml();
    const config = resolveConfig(args, io);
    return await dispatch(name as CommandName, args, config, io);
  } catch (error) {
    const exitCode = exitCodeFor(error);
    if (wantsJson(argv, io.env)) {
      const code = RunOnceError.is(error) ? error.code : undefined;
      const line = { time: new Date().toISOString(), level: 'error', event: 'error', code, exitCode };
      io.stderr.write(`${JSON.stringify({ ...line, message: describe(error) })}\n`);
    } else {
      io.stderr.write(`runonce: ${describe(error)}\n`);
    }
    if (!RunOnceError.is(error) && io.env.RUNONCE_DEBUG) io.stderr.write(`${(error as Error)?.stack}\n`);
    return exitCode;
  }
}

async function dispatch(name: CommandName, args: ParsedArgs, config: CliConfig, io: Io): Promise<number> {
  const flag = (n: string) => args.options[n] === true;
  const str = (n: string) => {
    const v = args.options[n];
    return typeof v === 'string' ? v : undefined;
  };
  switch (name) {
    case 'exec': {
      const { exec } = await import('./commands/exec/index.js');
      return exec({ task: args.positionals[0] as string, command: args.command, shell: flag('shell'), config }, io);
    }
    case 'lock': {
      const { lock } = await import('./commands/lock/index.js');
      return lock({ name: args.positionals[0] as string, command: args.command, shell: flag('shell'), config }, io);
    }
    case 'status': {
      const { status } = await import('./commands/status/index.js');
      const asked = flag('json') ? 'json' : str('format');
      if (asked !== undefined && asked !== 'json' && asked !== 'table') {
        throw new UsageError(`status: --format must be json or table, got ${JSON.stringify(asked)}`);
      }
      if (flag('json') && str('format') === 'table')
        throw new UsageError('status: --json and --format table exclude each other');
      const format = asked as 'json' | 'table' | undefined;
      return status({ tasks: args.positionals, format, config }, io);
    }
    case 'reset': {
      const { reset } = await import('./commands/reset/index.js');
      return reset({ tasks: args.positionals, config }, io);
    }
    case 'release': {
      const { release } = await import('./commands/release/index.js');
      return release({ task: args.positionals[0] as string, force: flag('force'), reason: str('reason'), config }, io);
    }
    case 'prune': {
      const { prune } = await import('./commands/prune/index.js');
      return prune({ keep: str('keep'), task: str('task'), config }, io);
    }
    case 'init': {
      const { init } = await import('./commands/init/index.js');
      return init({ config }, io);
    }
    case 'doctor': {
      if (typeof args.options.appspec === 'string') {
        const { checkAppspec } = await import('./commands/doctor/appspec.js');
        return checkAppspec(args.options.appspec, io);
      }
      const { doctor } = await import('./commands/doctor/index.js');
      return doctor({ config }, io);
    }
  }
}

/** `--log-format json` asked for, even when the arguments around it could not be parsed. */
function wantsJson(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const end = argv.indexOf('--');
  const args = end === -1 ? argv : argv.slice(0, end);
  const i = args.indexOf('--log-format');
  const flag = i !== -1 ? args[i + 1] : args.find((a) => a.startsWith('--log-format='))?.slice(13);
  return (flag ?? env.RUNONCE_LOG_FORMAT) === 'json';
}

function describe(error: unknown): string {
  if (error instanceof Error || RunOnceError.is(error)) return (error as Error).message;
  return String(error);
}

export { commands } from './definitions.js';
