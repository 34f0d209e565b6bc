import { DEFAULTS } from '@runonce/core';
import type { CommandDef, OptionDef } from './args.js';

/**
 * Every command's options, in one place: the parser, `--help` and the
 * generated CLI reference all read these tables.
 */

export const backendOptions: readonly OptionDef[] = [
  {
    name: 'backend',
    short: 'b',
    type: 'string',
    value: '<name>',
    env: 'RUNONCE_BACKEND',
    default: 'file',
    configKey: 'backend',
    description:
      'file, ssm, dynamodb, redis, postgres, s3 (all built in), or a backend package: @scope/name or a name containing runonce-backend',
  },
  {
    name: 'namespace',
    short: 'n',
    type: 'string',
    value: '<name>',
    env: 'RUNONCE_NAMESPACE',
    default: DEFAULTS.namespace,
    configKey: 'namespace',
    description: 'isolates apps and environments',
  },
  {
    name: 'config',
    short: 'c',
    type: 'string',
    value: '<path>',
    env: 'RUNONCE_CONFIG',
    default: 'runonce.config.json/.yaml if present',
    description: 'configuration file (JSON or YAML)',
  },
  {
    name: 'owner',
    type: 'string',
    value: '<id>',
    env: 'RUNONCE_OWNER',
    default: '<hostname>:<pid>',
    configKey: 'owner',
    description: 'who this instance is, as shown to others (e.g. the EC2 instance id)',
  },
  {
    name: 'dir',
    type: 'string',
    value: '<path>',
    env: 'RUNONCE_FILE_DIR',
    default: '$XDG_STATE_HOME/runonce or ~/.local/state/runonce',
    configKey: 'dir',
    description: 'file backend: state directory',
  },
  {
    name: 'ssm-prefix',
    type: 'string',
    value: '<path>',
    env: 'RUNONCE_SSM_PREFIX',
    default: '/runonce',
    configKey: 'ssmPrefix',
    description: 'SSM backend: parameter name prefix',
  },
  {
    name: 'table',
    type: 'string',
    value: '<name>',
    env: 'RUNONCE_DYNAMODB_TABLE',
    default: 'runonce',
    configKey: 'table',
    description: 'DynamoDB backend: table name',
  },
  {
    name: 'redis-url',
    type: 'string',
    value: '<url>',
    env: 'RUNONCE_REDIS_URL',
    default: 'redis://127.0.0.1:6379',
    configKey: 'redisUrl',
    description: 'Redis backend: redis:// or rediss:// URL',
  },
  {
    name: 'redis-cluster',
    type: 'string',
    value: '<host:port,…>',
    env: 'RUNONCE_REDIS_CLUSTER',
    configKey: 'redisCluster',
    description: 'Redis backend in cluster mode: some nodes (user, password and TLS from --redis-url)',
  },
  {
    name: 'postgres-url',
    type: 'string',
    value: '<url>',
    env: 'RUNONCE_POSTGRES_URL',
    default: "$DATABASE_URL, else libpq's PG* variables",
    configKey: 'postgresUrl',
    description: 'PostgreSQL backend: postgres://user:password@host:port/db (PgBouncer in transaction mode is fine)',
  },
  {
    name: 'postgres-table',
    type: 'string',
    value: '<name>',
    env: 'RUNONCE_POSTGRES_TABLE',
    default: 'runonce',
    configKey: 'postgresTable',
    description: 'PostgreSQL backend: table (or schema.table); `runonce init` creates it',
  },
  {
    name: 's3-bucket',
    type: 'string',
    value: '<name>',
    env: 'RUNONCE_S3_BUCKET',
    configKey: 's3Bucket',
    description: 'S3 backend: the bucket (endpoint from AWS_ENDPOINT_URL_S3 when set)',
  },
  {
    name: 's3-prefix',
    type: 'string',
    value: '<path>',
    env: 'RUNONCE_S3_PREFIX',
    default: 'runonce',
    configKey: 's3Prefix',
    description: 'S3 backend: key prefix of every object',
  },
];

const scope: OptionDef = {
  name: 'scope',
  short: 's',
  type: 'string',
  value: '<id>',
  env: 'RUNONCE_SCOPE',
  default: 'the current generation, else initial',
  configKey: 'scope',
  description: 'run-once window (a git sha, a build number, a tag)',
};
const lease: OptionDef = {
  name: 'lease',
  type: 'string',
  value: '<duration>',
  env: 'RUNONCE_LEASE',
  default: DEFAULTS.lease,
  configKey: 'lease',
  description: 'how long a silent owner is trusted; heartbeats every lease/3',
};
const waitTimeout: OptionDef = {
  name: 'wait-timeout',
  type: 'string',
  value: '<duration>',
  env: 'RUNONCE_WAIT_TIMEOUT',
  default: DEFAULTS.waitTimeout,
  configKey: 'waitTimeout',
  description: 'give up waiting for another instance after this long (exit 75)',
};
const onBusy: OptionDef = {
  name: 'on-busy',
  type: 'string',
  value: 'wait|skip|fail',
  env: 'RUNONCE_ON_BUSY',
  default: DEFAULTS.onBusy,
  configKey: 'onBusy',
  description: 'while another instance runs it: wait for the outcome, skip (exit 0) or fail (exit 75)',
};
const shell: OptionDef = {
  name: 'shell',
  type: 'flag',
  description: 'run the command through sh -c (default: exec argv without a shell)',
};
const logFile: OptionDef = {
  name: 'log-file',
  type: 'string',
  value: '<path>',
  env: 'RUNONCE_LOG_FILE',
  configKey: 'logFile',
  description: "append the command's output and runonce's lines to this file",
};
const logFormat: OptionDef = {
  name: 'log-format',
  type: 'string',
  value: 'text|json',
  env: 'RUNONCE_LOG_FORMAT',
  default: 'text',
  configKey: 'logFormat',
  description: "runonce's own lines on stderr as text, or one JSON object each (the command's output is untouched)",
};
const killGrace: OptionDef = {
  name: 'kill-grace',
  type: 'string',
  value: '<duration>',
  env: 'RUNONCE_KILL_GRACE',
  default: '10s, or lease/3 if shorter',
  configKey: 'killGrace',
  description:
    'after SIGTERM to the command (interrupted, lease lost), SIGKILL it after this long; at most half the lease',
};
const json: OptionDef = { name: 'json', type: 'flag', description: 'print JSON (default when stdout is not a TTY)' };

export const commands = {
  exec: {
    name: 'exec',
    summary: 'Run the command once per scope across every instance; the others wait for the outcome or skip.',
    usage: 'runonce exec <task> [options] -- <command> [args...]',
    positionals: [{ name: 'task', required: true }],
    takesCommand: true,
    options: [
      scope,
      onBusy,
      waitTimeout,
      lease,
      {
        name: 'retries',
        type: 'string',
        value: '<n>',
        env: 'RUNONCE_RETRIES',
        default: String(DEFAULTS.retries),
        configKey: 'retries',
        description: 'failed attempts that may be retried in the same scope',
      },
      {
        name: 'max-takeovers',
        type: 'string',
        value: '<n>',
        env: 'RUNONCE_MAX_TAKEOVERS',
        default: String(DEFAULTS.maxTakeovers),
        configKey: 'maxTakeovers',
        description: 'crashed or interrupted attempts that may be taken over',
      },
      logFile,
      logFormat,
      shell,
      killGrace,
      ...backendOptions,
    ],
    description:
      "Exit codes: 0 done (here or elsewhere) or skipped; the command's own code when it failed here;\n1 failed on another instance; 64 usage; 69 backend unavailable; 75 wait timeout, busy or lease lost;\n78 bad configuration; 128+n interrupted by signal n. The command gets RUNONCE_TASK, RUNONCE_NAMESPACE,\nRUNONCE_SCOPE, RUNONCE_ATTEMPT and RUNONCE_FENCING_TOKEN.",
    examples: [
      'runonce exec db-migration -- python manage.py migrate --noinput',
      'runonce exec odoo-upgrade --backend ssm --namespace shop-prod --log-file /var/log/odoo-upgrade.log -- odoo -u all --stop-after-init',
      'runonce exec seed --on-busy skip --shell -- "./seed.sh && touch /tmp/seeded"',
    ],
  },
  reset: {
    name: 'reset',
    summary: 'Start a new generation: the next exec of each task (without --scope) runs it again.',
    usage: 'runonce reset <task>... [--scope <id>]',
    positionals: [{ name: 'task', required: true, variadic: true }],
    options: [
      { ...scope, default: 'a fresh gen-<n>-<random>', description: "the new generation's scope (e.g. the build id)" },
      ...backendOptions,
    ],
    description: 'Run it as the first step of a deployment pipeline, as the hand-written pattern reset its flag.',
    examples: [
      'runonce reset db-migration',
      'runonce reset db-migration odoo-upgrade --scope "$CODEBUILD_RESOLVED_SOURCE_VERSION"',
    ],
  },
  status: {
    name: 'status',
    summary: 'Show the state, attempts, owners, times and exit codes of tasks (all tasks when none is named).',
    usage: 'runonce status [<task>...] [--scope <id>] [--json]',
    positionals: [{ name: 'task', required: false, variadic: true }],
    options: [
      scope,
      json,
      {
        name: 'format',
        type: 'string',
        value: 'json|table',
        description: 'output format (default: table on a TTY, else JSON)',
      },
      ...backendOptions,
    ],
    examples: ['runonce status', 'runonce status db-migration --json | jq -r .state'],
  },
  lock: {
    name: 'lock',
    summary: 'Run the command while holding a fenced lock (mutual exclusion only, like flock or consul lock).',
    usage: 'runonce lock <name> [options] -- <command> [args...]',
    positionals: [{ name: 'name', required: true }],
    takesCommand: true,
    options: [onBusy, waitTimeout, lease, logFile, logFormat, shell, killGrace, ...backendOptions],
    description:
      'The command gets RUNONCE_LOCK, RUNONCE_NAMESPACE and RUNONCE_FENCING_TOKEN (strictly increasing per lock).\nExit codes as for exec; --on-busy skip exits 0 without running the command.',
    examples: [
      'runonce lock nightly-report --wait-timeout 5m -- ./report.sh',
      'runonce lock cron-sync --on-busy skip -- ./sync.sh',
    ],
  },
  release: {
    name: 'release',
    summary: 'Operator: mark a stuck running attempt abandoned, so the next instance takes over at once.',
    usage: 'runonce release <task> --force [--scope <id>]',
    positionals: [{ name: 'task', required: true }],
    options: [
      { name: 'force', type: 'flag', description: 'required: you are sure the owner is gone or must stop' },
      { name: 'reason', type: 'string', value: '<text>', description: 'recorded with the attempt' },
      scope,
      ...backendOptions,
    ],
    examples: ['runonce release db-migration --force --reason "instance i-0abc terminated"'],
  },
  prune: {
    name: 'prune',
    summary: "Delete old scopes, keeping the newest <n> of each task and always the current generation's.",
    usage: 'runonce prune [--keep <n>] [--task <task>]',
    positionals: [],
    options: [
      {
        name: 'keep',
        type: 'string',
        value: '<n>',
        default: String(DEFAULTS.keep),
        description: 'scopes to keep per task',
      },
      { name: 'task', type: 'string', value: '<task>', description: 'only this task' },
      ...backendOptions,
    ],
    examples: ['runonce prune --keep 10'],
  },
  init: {
    name: 'init',
    summary: 'Create what the backend needs (the DynamoDB table, with TTL); safe to run again.',
    usage: 'runonce init [options]',
    positionals: [],
    options: [...backendOptions],
    examples: ['runonce init --backend dynamodb --table runonce'],
  },
  doctor: {
    name: 'doctor',
    summary:
      'Check connectivity and permissions with a dry round trip on a scratch key; print the IAM policy (or ACL) the backend needs.',
    usage: 'runonce doctor [options]',
    description:
      'With --appspec, check a CodeDeploy appspec instead: every hook whose script calls runonce must allow\n--wait-timeout + --lease + --kill-grace within its timeout (the agent SIGTERMs a hook at its timeout);\nwarns on runas: root. Exit 78 when a hook is too short.',
    positionals: [],
    options: [
      ...backendOptions,
      {
        name: 'appspec',
        type: 'string',
        value: '<file>',
        description: "check this appspec.yml's hook timeouts against the runonce calls in their scripts",
      },
    ],
    examples: ['runonce doctor --backend ssm --ssm-prefix /runonce', 'runonce doctor --appspec appspec.yml'],
  },
} as const satisfies Record<string, CommandDef>;

export type CommandName = keyof typeof commands;

export function formatMainHelp(version: string): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length)) + 2;
  const lines = [
    `runonce ${version}: run a deployment task exactly once per deployment across a fleet.`,
    '',
    'Usage: runonce <command> [options]',
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run `runonce <command> --help` for its options and examples; `runonce --version` (-v, -V) prints the version.',
    '',
    'Example:',
    '  runonce exec db-migration -- python manage.py migrate --noinput',
  ];
  return `${lines.join('\n')}\n`;
}
