import { dirname, resolve } from 'node:path';
import { ConfigError, DEFAULTS, formatDuration, parseDuration } from '@runonce/core';
import { defaultKillGraceMs, parseYamlText, preloadYaml } from '../../config.js';
import { ExitCode } from '../../exit.js';
import type { Io } from '../../io.js';

// Not `import … from 'node:fs'` at the top of a command: see config.ts.
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');

/** CodeDeploy's own default for a hook without `timeout`, and its maximum. */
const AGENT_DEFAULT_TIMEOUT_S = 3600;

export interface RunonceCall {
  readonly line: number;
  readonly waitMs: number;
  readonly leaseMs: number;
  readonly graceMs: number;
}

/**
 * The `runonce exec` / `runonce lock` calls in a hook script, with the
 * durations they give (or runonce's defaults). Continuation lines are joined;
 * only flags on the command line are seen (not values from the environment or
 * a config file: the report says which it assumed).
 */
export function runonceCalls(script: string): RunonceCall[] {
  const calls: RunonceCall[] = [];
  const lines = script.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let text = lines[i] as string;
    const first = i;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]}`;
    if (/^\s*#/.test(text) || !/\brunonce\s+(exec|lock)\b/.test(text)) continue;
    const flag = (name: string) => new RegExp(`--${name}(?:=|\\s+)["']?([0-9.]+(?:ms|s|m|h)?)`).exec(text)?.[1];
    const leaseMs = parseDuration(flag('lease') ?? DEFAULTS.lease, 'lease');
    const grace = flag('kill-grace');
    calls.push({
      line: first + 1,
      waitMs: parseDuration(flag('wait-timeout') ?? DEFAULTS.waitTimeout, 'wait timeout'),
      leaseMs,
      graceMs: grace ? parseDuration(grace, 'kill grace') : defaultKillGraceMs(leaseMs),
    });
  }
  return calls;
}

interface Hook {
  readonly event: string;
  readonly location: string;
  readonly timeout?: number;
  readonly runas?: string;
}

/**
 * `runonce doctor --appspec appspec.yml`: each hook whose script calls runonce
 * must allow `--wait-timeout + --lease + --kill-grace` (summed over the calls
 * in the script): the agent SIGTERMs a hook at its timeout, and a waiter that
 * started waiting just before an owner died waits a lease more than its
 * timeout's worth, and the owner's command needs its grace. Also warns on
 * `runas: root` (the agent is root already; `su` doubles the signal and
 * SIGKILLs 2 s later). Exit 0, or 78 when a budget is short or the appspec
 * cannot be read.
 */
export async function checkAppspec(path: string, io: Io): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const file = resolve(io.cwd, path);
  if (!existsSync(file)) throw new ConfigError(`appspec ${file} does not exist`);
  await preloadYaml();
  const spec = parseYamlText(readFileSync(file, 'utf8'), file) as { hooks?: unknown } | null;
  const hooks = hooksOf(spec?.hooks, file);
  out(`appspec: ${file}`);
  let short = 0;
  let checked = 0;
  for (const hook of hooks) {
    const script = resolve(dirname(file), hook.location.replace(/^\//, ''));
    const label = `${hook.event}: ${hook.location}`;
    if (hook.runas === 'root') {
      out(
        `  warn  ${label}: runas: root wraps the script in su, which doubles the timeout's SIGTERM and SIGKILLs it 2 s later; the agent runs hooks as root already, so leave it out`,
      );
    }
    if (!existsSync(script)) {
      out(`  warn  ${label}: script not found at ${script}`);
      continue;
    }
    const calls = runonceCalls(readFileSync(script, 'utf8'));
    if (calls.length === 0) continue;
    checked++;
    const needMs = calls.reduce((sum, c) => sum + c.waitMs + c.leaseMs + c.graceMs, 0);
    const timeoutS = hook.timeout ?? AGENT_DEFAULT_TIMEOUT_S;
    const parts = calls
      .map(
        (c) =>
          `${formatDuration(c.waitMs)} wait + ${formatDuration(c.leaseMs)} lease + ${formatDuration(c.graceMs)} grace (line ${c.line})`,
      )
      .join(' + ');
    const timeoutText = `${timeoutS} s${hook.timeout === undefined ? ' (the agent default)' : ''}`;
    if (needMs <= timeoutS * 1000) {
      out(`  ok    ${label}: timeout ${timeoutText} ≥ ${parts}`);
    } else {
      short++;
      const spare = timeoutS * 1000 - calls.reduce((sum, c) => sum + c.leaseMs + c.graceMs, 0);
      const hint =
        calls.length === 1 && spare > 0
          ? `: give it --wait-timeout ${formatDuration(Math.floor(spare / 60_000) * 60_000 || spare)} or less, or a longer timeout`
          : ': shorten the waits or lengthen the timeout';
      out(`  FAIL  ${label}: timeout ${timeoutText} < ${parts} = ${formatDuration(needMs)}${hint}`);
    }
  }
  if (checked === 0) out('  no hook script calls runonce exec or runonce lock');
  out(
    short
      ? `${short} hook(s) would be interrupted by the agent before runonce gives up waiting`
      : 'every hook that calls runonce fits its timeout',
  );
  out("(durations from each script's flags; where a flag is absent, runonce's default is assumed)");
  return short ? ExitCode.config : ExitCode.ok;
}

function hooksOf(hooks: unknown, file: string): Hook[] {
  if (hooks === undefined) return [];
  if (typeof hooks !== 'object' || hooks === null || Array.isArray(hooks)) {
    throw new ConfigError(`${file}: hooks must be a map of lifecycle events to lists of scripts`);
  }
  const out: Hook[] = [];
  for (const [event, list] of Object.entries(hooks)) {
    if (!Array.isArray(list)) throw new ConfigError(`${file}: hooks.${event} must be a list`);
    for (const item of list) {
      const h = item as Record<string, unknown>;
      if (typeof h?.location !== 'string')
        throw new ConfigError(`${file}: hooks.${event}: every entry needs a location`);
      if (h.timeout !== undefined && (typeof h.timeout !== 'number' || !(h.timeout > 0))) {
        throw new ConfigError(`${file}: hooks.${event} ${h.location}: timeout must be a number of seconds`);
      }
      out.push({
        event,
        location: h.location,
        ...(typeof h.timeout === 'number' ? { timeout: h.timeout } : {}),
        ...(typeof h.runas === 'string' ? { runas: h.runas } : {}),
      });
    }
  }
  return out;
}
