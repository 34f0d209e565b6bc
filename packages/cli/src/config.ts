import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ConfigError,
  DEFAULTS,
  formatDuration,
  maxStopGraceMs,
  type OnBusy,
  parseDuration,
  UsageError,
  validateName,
  validateScope,
} from '@runonce/core';
import type { OptionDef, ParsedArgs } from './args.js';
import { checkBackendName } from './backend-names.js';
import { commands } from './definitions.js';

// Not `import … from 'node:fs'`: its ESM facade loads fs streams eagerly, ~4 ms of the skip path.
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');

/** What every command works from, resolved flag > environment > config file > default. */
export interface CliConfig {
  readonly backend: string;
  readonly namespace: string;
  readonly owner: string | undefined;
  readonly dir: string;
  readonly ssmPrefix: string;
  readonly table: string;
  readonly redisUrl: string;
  readonly redisCluster: string | undefined;
  readonly postgresUrl: string | undefined;
  readonly postgresTable: string;
  readonly s3Bucket: string | undefined;
  readonly s3Prefix: string;
  readonly scope: string | undefined;
  readonly lease: number;
  readonly waitTimeout: number;
  readonly onBusy: OnBusy;
  readonly retries: number;
  readonly maxTakeovers: number;
  readonly killGrace: number;
  readonly logFile: string | undefined;
  readonly logFormat: 'text' | 'json';
  /** Backend-specific objects from the config file, handed to the backend's factory as they are. */
  readonly ssm?: Record<string, unknown> | undefined;
  readonly dynamodb?: Record<string, unknown> | undefined;
  readonly redis?: Record<string, unknown> | undefined;
  readonly postgres?: Record<string, unknown> | undefined;
  readonly s3?: Record<string, unknown> | undefined;
  readonly backendOptions?: Record<string, unknown> | undefined;
  /** The file the configuration came from, if any. */
  readonly configFile: string | undefined;
}

export interface Environment {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

const CONFIG_FILES = ['runonce.config.json', 'runonce.config.yaml', 'runonce.config.yml'];
const OBJECT_KEYS = ['ssm', 'dynamodb', 'redis', 'postgres', 's3', 'backendOptions'] as const;

type Source = { kind: 'flag' | 'env' | 'file'; label: string };
type Check<T> = (value: unknown, where: Source) => T;

const str: Check<string> = (v, where) => {
  if (typeof v === 'string' && v !== '') return v;
  throw bad(where, `must be a non-empty string, got ${JSON.stringify(v)}`);
};
const duration: Check<number> = (v, where) => {
  if (typeof v !== 'string' && typeof v !== 'number')
    throw bad(where, `must be a duration like 30s, got ${JSON.stringify(v)}`);
  try {
    return parseDuration(v, where.label);
  } catch (e) {
    throw rewrap(where, e);
  }
};
const count: Check<number> = (v, where) => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0) return n;
  throw bad(where, `must be a whole number >= 0, got ${JSON.stringify(v)}`);
};
const choice =
  <T extends string>(...values: T[]): Check<T> =>
  (v, where) => {
    if (typeof v === 'string' && (values as string[]).includes(v)) return v as T;
    throw bad(where, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  };
const checked =
  (fn: (v: string) => string): Check<string> =>
  (v, where) => {
    try {
      return fn(str(v, where));
    } catch (e) {
      throw rewrap(where, e);
    }
  };

/** `host:port,…` for --redis-cluster: a usage error here rather than a store error after loading the backend. */
function checkClusterNodes(v: string): string {
  for (const node of v.split(',')) {
    if (!/^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}\s*$/.test(node))
      throw new UsageError(
        `--redis-cluster takes host:port,host:port,…; ${JSON.stringify(node.trim())} is not host:port`,
      );
  }
  return v;
}

function defaultDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'runonce');
  return join(env.HOME || homedir(), '.local', 'state', 'runonce');
}

const SETTINGS = {
  backend: { check: checked(checkBackendName), fallback: () => 'file' },
  namespace: { check: checked((v) => validateName('namespace', v)), fallback: () => DEFAULTS.namespace },
  owner: { check: str, fallback: () => undefined },
  dir: { check: str, fallback: (e: Environment) => defaultDir(e.env) },
  ssmPrefix: { check: str, fallback: () => '/runonce' },
  table: { check: str, fallback: () => 'runonce' },
  redisUrl: { check: str, fallback: () => 'redis://127.0.0.1:6379' },
  redisCluster: { check: checked(checkClusterNodes), fallback: () => undefined },
  // DATABASE_URL is what Django, Rails and Heroku-style hosts already set; empty counts as unset there.
  postgresUrl: { check: str, fallback: (e: Environment) => e.env.DATABASE_URL || undefined },
  postgresTable: { check: str, fallback: () => 'runonce' },
  s3Bucket: { check: str, fallback: () => undefined },
  s3Prefix: { check: str, fallback: () => 'runonce' },
  scope: { check: checked(validateScope), fallback: () => undefined },
  lease: { check: duration, fallback: () => parseDuration(DEFAULTS.lease) },
  waitTimeout: { check: duration, fallback: () => parseDuration(DEFAULTS.waitTimeout) },
  onBusy: { check: choice<OnBusy>('wait', 'skip', 'fail'), fallback: (): OnBusy => DEFAULTS.onBusy },
  retries: { check: count, fallback: (): number => DEFAULTS.retries },
  maxTakeovers: { check: count, fallback: (): number => DEFAULTS.maxTakeovers },
  // Resolved against the lease below: 10 s, or a third of the lease when that is shorter.
  killGrace: { check: duration, fallback: () => undefined },
  logFile: { check: str, fallback: () => undefined },
  logFormat: { check: choice<'text' | 'json'>('text', 'json'), fallback: (): 'text' | 'json' => 'text' },
} as const;
type SettingKey = keyof typeof SETTINGS;

/** Every option that maps to a setting, across commands: its flag name and environment variable. */
const OPTION_OF = new Map<string, OptionDef>();
for (const c of Object.values(commands)) {
  for (const o of c.options as readonly OptionDef[]) if (o.configKey) OPTION_OF.set(o.configKey, o);
}

export function resolveConfig(args: Pick<ParsedArgs, 'options'>, environment: Environment): CliConfig {
  const { env, cwd } = environment;
  const { file, path } = loadConfigFile(args.options.config, env, cwd);
  const out: Record<string, unknown> = { configFile: path };
  const from: Partial<Record<SettingKey, string>> = {};
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const setting = SETTINGS[key];
    const opt = OPTION_OF.get(key);
    const flag = opt ? args.options[opt.name] : undefined;
    if (flag !== undefined && opt) {
      out[key] = setting.check(flag, { kind: 'flag', label: `--${opt.name}` });
      from[key] = `--${opt.name}`;
    } else if (opt?.env && env[opt.env] !== undefined) {
      // Empty is refused, as for a flag: `RUNONCE_SCOPE=` falling back to another scope would run or skip the wrong one.
      if (env[opt.env] === '') throw new UsageError(`${opt.env} is set but empty; give it a value or unset it`);
      out[key] = setting.check(env[opt.env], { kind: 'env', label: opt.env });
      from[key] = opt.env;
    } else if (file && file[key] !== undefined) {
      out[key] = setting.check(file[key], { kind: 'file', label: `${path}: ${key}` });
      from[key] = `${path}: ${key}`;
    } else {
      out[key] = setting.fallback(environment);
    }
  }
  out.killGrace = killGraceFor(out.lease as number, out.killGrace as number | undefined, from);
  if (file) for (const key of OBJECT_KEYS) out[key] = file[key];
  if (typeof out.dir === 'string') out.dir = resolve(cwd, out.dir);
  return out as unknown as CliConfig;
}

/** --kill-grace when none is given: 10 s, or a third of the lease when that is shorter. */
export function defaultKillGraceMs(leaseMs: number): number {
  return Math.min(10_000, Math.floor(leaseMs / 3));
}

/**
 * The command must be gone before anyone may take over (the keeper SIGKILLs it at the lease's stopBy),
 * and the lease is given up a grace before that: a grace over half the lease would leave no time to
 * renew. Default 10 s, or a third of the lease when that is shorter.
 */
function killGraceFor(leaseMs: number, grace: number | undefined, from: Partial<Record<SettingKey, string>>): number {
  if (grace === undefined) return defaultKillGraceMs(leaseMs);
  if (grace <= maxStopGraceMs(leaseMs)) return grace;
  const where = (k: SettingKey, dflt: string) => from[k] ?? dflt;
  const message =
    `kill grace ${formatDuration(grace)} (${where('killGrace', 'default')}) is more than half the lease ` +
    `${formatDuration(leaseMs)} (${where('lease', 'default')}): the command must be gone before another instance ` +
    'may take over, so give it a longer --lease or a shorter --kill-grace';
  const fromFile = (k: SettingKey) => from[k]?.includes(': ') === true;
  throw fromFile('killGrace') && (fromFile('lease') || from.lease === undefined)
    ? new ConfigError(message)
    : new UsageError(message);
}

function loadConfigFile(
  flag: string | true | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { file: Record<string, unknown> | undefined; path: string | undefined } {
  let path: string | undefined;
  if (flag === undefined && env.RUNONCE_CONFIG === '') {
    throw new UsageError('RUNONCE_CONFIG is set but empty; give it a value or unset it');
  }
  const explicit = typeof flag === 'string' ? flag : env.RUNONCE_CONFIG;
  if (explicit) {
    path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
  } else {
    for (const name of CONFIG_FILES) {
      const candidate = join(cwd, name);
      if (existsSync(candidate)) {
        path = candidate;
        break;
      }
    }
  }
  if (!path) return { file: undefined, path: undefined };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const parsed = /\.ya?ml$/i.test(path) ? parseYaml(text, path) : parseJson(text, path);
  return { file: validateFile(parsed, path), path };
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

// The yaml package is loaded only for a YAML file: the skip path must stay light.
let yamlParse: ((text: string) => unknown) | undefined;
export async function preloadYaml(): Promise<void> {
  if (yamlParse) return;
  const yaml = await import('yaml');
  // The npm bundle hands this CommonJS package over as a default export only.
  yamlParse = yaml.parse ?? (yaml as unknown as { default: typeof yaml }).default.parse;
}

/** Parse YAML once preloadYaml() has run (a ConfigError naming the file if it is not YAML). */
export function parseYamlText(text: string, path: string): unknown {
  return parseYaml(text, path);
}

function parseYaml(text: string, path: string): unknown {
  if (!yamlParse) throw new Error('internal: YAML parser not loaded (call preloadYaml first)');
  try {
    return yamlParse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
}

/** True when resolving the configuration will read a YAML file (so the caller preloads the parser). */
export function needsYaml(options: ParsedArgs['options'], env: NodeJS.ProcessEnv, cwd: string): boolean {
  const explicit = typeof options.config === 'string' ? options.config : env.RUNONCE_CONFIG;
  if (explicit) return /\.ya?ml$/i.test(explicit);
  return (
    !existsSync(join(cwd, CONFIG_FILES[0] as string)) && CONFIG_FILES.slice(1).some((n) => existsSync(join(cwd, n)))
  );
}

function validateFile(parsed: unknown, path: string): Record<string, unknown> {
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold an object of settings`);
  }
  const known = new Set<string>([...Object.keys(SETTINGS), ...OBJECT_KEYS, '$schema']);
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) {
      throw new ConfigError(
        `${path}: unknown key "${key}" (known keys: ${[...known].filter((k) => k !== '$schema').join(', ')})`,
      );
    }
    if (
      (OBJECT_KEYS as readonly string[]).includes(key) &&
      (typeof value !== 'object' || value === null || Array.isArray(value))
    ) {
      throw new ConfigError(`${path}: ${key} must be an object`);
    }
  }
  return parsed as Record<string, unknown>;
}

function bad(where: Source, message: string): Error {
  const text = `${where.label} ${message}`;
  return where.kind === 'file' ? new ConfigError(text) : new UsageError(text);
}

function rewrap(where: Source, e: unknown): Error {
  const message = (e as Error).message;
  const text =
    where.kind === 'file'
      ? `${where.label}: ${message}`
      : message.includes(where.label)
        ? message
        : `${where.label}: ${message}`;
  return where.kind === 'file' ? new ConfigError(text, { cause: e }) : new UsageError(text, { cause: e });
}
