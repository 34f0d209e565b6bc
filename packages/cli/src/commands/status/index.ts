import { formatDuration, type TaskStatus } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode } from '../../exit.js';
import { clockTime, type Io, processIo } from '../../io.js';

export interface StatusInput {
  /** None: every task of the namespace. */
  readonly tasks: readonly string[];
  /** Default: JSON when stdout is not a TTY. */
  readonly format?: 'json' | 'table' | undefined;
  readonly config: CliConfig;
}

/** `runonce status`: one object per task (an array when several or none were named). */
export async function status(input: StatusInput, io: Io = processIo()): Promise<number> {
  const engine = await openEngine(input.config);
  try {
    const { runonce } = engine;
    const names = input.tasks.length ? input.tasks : await runonce.tasks();
    const scope = input.config.scope;
    const result: TaskStatus[] = [];
    for (const task of names) result.push(await runonce.status(task, scope !== undefined ? { scope } : {}));
    const format = input.format ?? (io.stdout.isTTY ? 'table' : 'json');
    if (format === 'json') {
      const value = input.tasks.length === 1 ? result[0] : result;
      io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    } else {
      io.stdout.write(formatTable(result, runonce.namespace));
    }
    return ExitCode.ok;
  } finally {
    await engine.close();
  }
}

function note(a: TaskStatus['attempts'][number]): string {
  const t = a.takenOverBy;
  if (t?.released) return `released by ${t.owner} at ${clockTime(t.at)}`;
  if (t) return `taken over by ${t.owner} (attempt ${t.attempt}) at ${clockTime(t.at)}`;
  if (a.stuck)
    return `STUCK: no heartbeat for ${formatDuration(a.stuck.silentForMs)}; if its owner is gone: ${a.stuck.release}`;
  if (a.stoppingBy) return `stopping, gone by ${clockTime(a.stoppingBy)}`;
  return a.reason ?? a.error ?? '';
}

export function formatTable(statuses: readonly TaskStatus[], namespace: string): string {
  if (statuses.length === 0) return `no tasks in namespace ${namespace}\n`;
  const rows: string[][] = [['TASK', 'SCOPE', 'STATE', 'ATTEMPT', 'OWNER', 'STARTED', 'FINISHED', 'EXIT', 'NOTE']];
  for (const s of statuses) {
    if (s.attempts.length === 0) rows.push([s.task, s.scope, s.state, '-', '', '', '', '', 'never ran in this scope']);
    for (const [i, a] of s.attempts.entries()) {
      rows.push([
        i === 0 ? s.task : '',
        i === 0 ? s.scope : '',
        i === 0 ? s.state : '',
        `${a.attempt} ${a.takenOverBy ? (a.takenOverBy.released ? 'released' : 'taken over') : a.state}`,
        a.owner,
        clockTime(a.startedAt),
        a.finishedAt ? clockTime(a.finishedAt) : '',
        a.exitCode === null ? '' : String(a.exitCode),
        a.stuck ? note(a) : note(a).slice(0, 60),
      ]);
    }
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
