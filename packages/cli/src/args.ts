import { UsageError } from '@runonce/core';

/**
 * One option-definition table per command drives parsing, `--help` and the
 * generated CLI reference. Values stay strings here; config.ts resolves them
 * against the environment, the config file and the defaults.
 */
export interface OptionDef {
  /** Long name without dashes: `wait-timeout`. */
  readonly name: string;
  readonly short?: string;
  /** `flag` takes no value. */
  readonly type: 'flag' | 'string';
  /** Placeholder in help: `<duration>`. */
  readonly value?: string;
  readonly env?: string;
  readonly default?: string;
  readonly description: string;
  /** The config file key, when the option can live there. */
  readonly configKey?: string;
}

export interface PositionalDef {
  readonly name: string;
  readonly required: boolean;
  readonly variadic?: boolean;
}

export interface CommandDef {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly positionals: readonly PositionalDef[];
  readonly options: readonly OptionDef[];
  /** Takes `-- <command> [args...]` after its positionals. */
  readonly takesCommand?: boolean;
  readonly description?: string;
  readonly examples: readonly string[];
}

export interface ParsedArgs {
  readonly positionals: string[];
  /** Long option name → value (`true` for flags). */
  readonly options: Record<string, string | true>;
  /** After `--` (or after the positionals, for commands that take one). */
  readonly command: string[];
  readonly help: boolean;
}

export function parseArgs(def: CommandDef, argv: readonly string[]): ParsedArgs {
  const byLong = new Map(def.options.map((o) => [o.name, o]));
  const byShort = new Map(def.options.filter((o) => o.short).map((o) => [o.short as string, o]));
  const positionals: string[] = [];
  const options: Record<string, string | true> = {};
  let command: string[] = [];
  let help = false;
  const required = def.positionals.filter((p) => p.required).length;
  const variadic = def.positionals.some((p) => p.variadic);

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      command = argv.slice(i + 1);
      break;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      let name: string;
      let inline: string | undefined;
      let opt: OptionDef | undefined;
      if (arg.startsWith('--')) {
        const eq = arg.indexOf('=');
        name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
        inline = eq === -1 ? undefined : arg.slice(eq + 1);
        opt = byLong.get(name);
      } else {
        name = arg.slice(1, 2);
        inline = arg.length > 2 ? arg.slice(2) : undefined;
        opt = byShort.get(name);
      }
      if (!opt) throw new UsageError(`${def.name}: unknown option ${arg}${suggest(name, def)}`);
      if (opt.type === 'flag') {
        if (inline !== undefined) throw new UsageError(`${def.name}: --${opt.name} takes no value`);
        options[opt.name] = true;
        continue;
      }
      let value = inline;
      if (value === undefined) {
        const next = argv[i + 1];
        // `--scope $UNSET -- cmd` reaches us as `--scope -- cmd`: the value is missing, not `--`.
        if (next === undefined || next.startsWith('-')) {
          const got = next === undefined ? '' : ` (got ${JSON.stringify(next)}: a value never starts with -)`;
          throw new UsageError(`${def.name}: --${opt.name} needs a value${opt.value ? ` ${opt.value}` : ''}${got}`);
        }
        value = next;
        i++;
      }
      if (value === '') {
        throw new UsageError(`${def.name}: --${opt.name} is empty; give it a value or leave it out`);
      }
      options[opt.name] = value;
      continue;
    }
    // The first word after the positionals starts the command (like `env` or `timeout`).
    if (def.takesCommand && positionals.length >= def.positionals.length) {
      command = argv.slice(i);
      break;
    }
    if (!variadic && positionals.length >= def.positionals.length) {
      throw new UsageError(`${def.name}: unexpected argument ${JSON.stringify(arg)}`);
    }
    positionals.push(arg);
  }
  if (!help) {
    if (positionals.length < required) {
      const missing = def.positionals[positionals.length] as PositionalDef;
      throw new UsageError(`${def.name}: missing <${missing.name}>; usage: ${def.usage}`);
    }
    if (def.takesCommand && command.length === 0) {
      throw new UsageError(`${def.name}: missing command after --; usage: ${def.usage}`);
    }
  }
  return { positionals, options, command, help };
}

function suggest(name: string, def: CommandDef): string {
  const close = def.options.find((o) => o.name.startsWith(name.slice(0, 3)) && name.length > 2);
  return close ? ` (did you mean --${close.name}?)` : `; see runonce ${def.name} --help`;
}

export function formatHelp(def: CommandDef): string {
  const lines = [`Usage: ${def.usage}`, '', def.summary];
  if (def.description) lines.push('', def.description);
  if (def.options.length) {
    lines.push('', 'Options:');
    const rows = def.options.map((o) => {
      const left = `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`;
      const extra = [o.env ? `env ${o.env}` : '', o.default ? `default ${o.default}` : ''].filter(Boolean).join(', ');
      return [left, extra ? `${o.description} (${extra})` : o.description] as const;
    });
    rows.push(['-h, --help', 'show this help']);
    const width = Math.max(...rows.map(([l]) => l.length)) + 2;
    for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`);
    lines.push(
      '',
      'Flags win over the environment, the environment over the config file. A value never starts with -',
      '(so `--scope -- cmd` is an error, not the scope "--"; write --scope=-a for one that does), and an',
      'empty one is refused, as a flag (--scope "") or from the environment (RUNONCE_SCOPE=): unset the',
      'variable instead.',
    );
  }
  if (def.examples.length) {
    lines.push('', 'Examples:');
    for (const e of def.examples) lines.push(`  ${e}`);
  }
  return `${lines.join('\n')}\n`;
}
