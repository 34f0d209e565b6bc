import { formatDuration, RunOnceError, type TaskContext, type TaskFailedError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode, exitCodeFor } from '../../exit.js';
import { clockTime, commandLine, human, type Io, processIo, Reporter, type Say, since } from '../../io.js';
import { StopRequests } from '../../signals.js';

export interface ExecInput {
  readonly task: string;
  readonly command: readonly string[];
  readonly shell?: boolean;
  readonly config: CliConfig;
}

/** Thrown by the task function so the engine records the command's exit code. */
class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}

/**
 * `runonce exec`: claim the task's scope and run the command, or wait for
 * (or skip) the instance that does. Returns the exit code; every decision is
 * one stderr line.
 */
export async function exec(input: ExecInput, io: Io = processIo()): Promise<number> {
  const { task, config } = input;
  const reporter = new Reporter(io, config.logFile, config.logFormat);
  reporter.context = { namespace: config.namespace, task };
  const engine = await openEngine(config).catch((e: unknown) => {
    reporter.logOnly(`runonce: ${(e as Error).message}`);
    reporter.close();
    throw e;
  });
  const { runonce } = engine;
  const say: Say = (message, tone, fields) => reporter.line(task, message, tone, fields);
  const commandText = commandLine(input.command, input.shell === true);

  // The engine announces a stop in the store itself (stopGrace): if this process is killed next, the
  // others take over after the grace, not after a whole lease.
  const stops = new StopRequests({ subject: task, reporter, graceMs: config.killGrace });
  const interrupt = stops.interrupt;
  let claimed = false;

  const off = [
    runonce.on('claimed', (e) => {
      claimed = true;
      if (!e.takeover) {
        say(`claimed attempt ${e.attempt} (scope ${e.scope}), running: ${commandText}`, undefined, {
          event: 'claimed',
          scope: e.scope,
          attempt: e.attempt,
          owner: e.owner,
        });
      }
    }),
    runonce.on('takeover', (e) =>
      say(
        `taking over from ${e.previous.owner} (attempt ${e.previous.attempt} ${e.previous.state === 'running' ? 'stale' : e.previous.state}), running attempt ${e.attempt} (scope ${e.scope}): ${commandText}`,
        'warn',
        {
          event: 'takeover',
          scope: e.scope,
          attempt: e.attempt,
          previousAttempt: e.previous.attempt,
          previousOwner: e.previous.owner,
          previousState: e.previous.state,
        },
      ),
    ),
    runonce.on('waiting', (e) => {
      const since0 = Date.now() - e.waitedMs;
      reporter.waiting(
        task,
        () =>
          `waiting for ${e.owner} (attempt ${e.attempt}, running ${since(e.startedAt)}, waited ${human(Date.now() - since0)})`,
        () => ({ event: 'waiting', scope: e.scope, attempt: e.attempt, owner: e.owner, waitedMs: Date.now() - since0 }),
      );
    }),
    runonce.on('lost', (e) =>
      say(`lease lost on attempt ${e.attempt} (${e.reason}), stopping the command`, 'bad', {
        event: 'lease_lost',
        scope: e.scope,
        attempt: e.attempt,
        reason: e.reason,
      }),
    ),
  ];

  const t0 = Date.now();
  try {
    const outcome = await runonce.run(
      task,
      async (ctx: TaskContext) => {
        if (interrupt.signal.aborted) throw new CommandFailed('interrupted before start', 128, null);
        // child_process is loaded only when this instance runs the command: not on the skip path.
        const { startUnderLease } = await import('../../under-lease.js');
        if (interrupt.signal.aborted) throw new CommandFailed('interrupted before start', 128, null);
        const child = startUnderLease(
          ctx,
          {
            command: input.command,
            shell: input.shell === true,
            env: {
              ...io.env,
              RUNONCE_TASK: ctx.task,
              RUNONCE_NAMESPACE: ctx.namespace,
              RUNONCE_SCOPE: ctx.scope,
              RUNONCE_ATTEMPT: String(ctx.attempt),
              RUNONCE_FENCING_TOKEN: String(ctx.fencingToken),
            },
          },
          { reporter, graceMs: config.killGrace, say },
        );
        stops.child = child;
        const exit = await child.exited;
        if (exit.error) say(exit.error, 'bad', { event: 'command_error', exitCode: exit.code });
        if (exit.code !== 0) {
          const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
          throw new CommandFailed(`command ${how}`, exit.code, exit.signal);
        }
      },
      {
        ...(config.scope !== undefined ? { scope: config.scope } : {}),
        onBusy: config.onBusy,
        lease: config.lease,
        stopGrace: config.killGrace,
        waitTimeout: config.waitTimeout,
        retries: config.retries,
        maxTakeovers: config.maxTakeovers,
        signal: interrupt.signal,
      },
    );
    if (outcome.ranHere) {
      say(`done in ${formatDuration(Date.now() - t0)} (attempt ${outcome.attempt})`, 'good', {
        event: 'done',
        scope: outcome.scope,
        attempt: outcome.attempt,
        durationMs: Date.now() - t0,
      });
    } else if (outcome.state === 'done') {
      say(
        `done on ${outcome.owner} at ${clockTime(outcome.finishedAt)} (attempt ${outcome.attempt}), skipping`,
        undefined,
        {
          event: 'skipped',
          reason: 'done',
          scope: outcome.scope,
          attempt: outcome.attempt,
          owner: outcome.owner,
          finishedAt: outcome.finishedAt,
        },
      );
    } else {
      say(`running on ${outcome.owner} (attempt ${outcome.attempt}), skipping (--on-busy skip)`, undefined, {
        event: 'skipped',
        reason: 'busy',
        scope: outcome.scope,
        attempt: outcome.attempt,
        owner: outcome.owner,
      });
    }
    return ExitCode.ok;
  } catch (error) {
    return report(error, { say, stopSignal: stops.signal, claimed });
  } finally {
    for (const f of off) f();
    stops.dispose();
    reporter.close();
    await engine.close();
  }
}

/** What a user stuck on a failed task can do: a new deployment, or more tries in this one. */
function nextSteps(task: string, flag: '--retries' | '--max-takeovers'): string {
  return `fix it, then \`runonce reset ${task}\` arms a new deployment (or ${flag} <n> allows more attempts in this scope)`;
}

function report(
  error: unknown,
  c: {
    say: Say;
    stopSignal: NodeJS.Signals | undefined;
    claimed: boolean;
  },
): number {
  const { say } = c;
  if (RunOnceError.is(error, 'E_TASK_FAILED')) {
    const d = (error as TaskFailedError).details;
    if (d.ranHere) {
      say(`failed with exit code ${d.exitCode ?? 1} (attempt ${d.attempt})`, 'bad', {
        event: 'failed',
        scope: d.scope,
        attempt: d.attempt,
        exitCode: d.exitCode ?? 1,
      });
    } else if (d.kind === 'takeovers') {
      say(`${error.message}, not running it; ${nextSteps(d.task, '--max-takeovers')}`, 'bad', {
        event: 'too_many_takeovers',
        scope: d.scope,
        attempt: d.attempt,
      });
    } else {
      const code = d.exitCode !== undefined ? ` with exit code ${d.exitCode}` : '';
      say(
        `failed on ${d.owner ?? '?'}${code} at ${clockTime(d.finishedAt)} (attempt ${d.attempt}), not running it; ${nextSteps(d.task, '--retries')}`,
        'bad',
        {
          event: 'failed_elsewhere',
          scope: d.scope,
          attempt: d.attempt,
          owner: d.owner,
          exitCode: d.exitCode,
          finishedAt: d.finishedAt,
        },
      );
    }
    return exitCodeFor(error);
  }
  if (RunOnceError.is(error, 'E_INTERRUPTED')) {
    say(
      `interrupted by ${c.stopSignal ?? 'a signal'}; ${c.claimed ? 'attempt recorded abandoned, the next instance takes over at once' : 'nothing was claimed'}`,
      'warn',
      { event: 'interrupted', signal: c.stopSignal, recordedAbandoned: c.claimed },
    );
    return c.stopSignal ? exitCodeFor(Object.assign(error, { signal: c.stopSignal })) : exitCodeFor(error);
  }
  if (RunOnceError.is(error, 'E_BUSY')) {
    say(`${error.message}, giving up (--on-busy fail)`, 'warn', { event: 'busy' });
    return exitCodeFor(error);
  }
  if (RunOnceError.is(error, 'E_WAIT_TIMEOUT') || RunOnceError.is(error, 'E_LEASE_LOST')) {
    say(error.message, 'bad', { event: RunOnceError.is(error, 'E_WAIT_TIMEOUT') ? 'wait_timeout' : 'lease_lost' });
    return exitCodeFor(error);
  }
  throw error;
}
