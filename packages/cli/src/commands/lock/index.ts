import { type LockHandle, RunOnceError } from '@runonce/core';
import type { CliConfig } from '../../config.js';
import { openEngine } from '../../engine.js';
import { ExitCode, exitCodeFor, signalExitCode } from '../../exit.js';
import { commandLine, type Io, processIo, Reporter, type Say, since } from '../../io.js';
import { StopRequests } from '../../signals.js';
import { startUnderLease } from '../../under-lease.js';

export interface LockInput {
  readonly name: string;
  readonly command: readonly string[];
  readonly shell?: boolean;
  readonly config: CliConfig;
}

/**
 * `runonce lock`: hold a fenced lock while the command runs (mutual
 * exclusion only; nothing is recorded as done). Exit code: the command's.
 */
export async function lock(input: LockInput, io: Io = processIo()): Promise<number> {
  const { name, config } = input;
  const reporter = new Reporter(io, config.logFile, config.logFormat);
  reporter.context = { namespace: config.namespace, lock: name };
  const subject = `lock ${name}`;
  const say: Say = (m, tone, fields) => reporter.line(subject, m, tone, fields);
  const engine = await openEngine(config).catch((e: unknown) => {
    reporter.logOnly(`runonce: ${(e as Error).message}`);
    reporter.close();
    throw e;
  });
  const { runonce } = engine;
  let handle: LockHandle | undefined;
  // If this process is killed after a stop request, the next holder waits the grace, not a whole lease.
  const stops = new StopRequests({
    subject,
    reporter,
    graceMs: config.killGrace,
    onStop: () => void handle?.announceStop(),
  });
  const interrupt = stops.interrupt;
  const off = runonce.on('waiting', (e) =>
    reporter.waiting(
      subject,
      () => `held by ${e.owner} (token ${e.attempt}, for ${since(e.startedAt)})`,
      () => ({ event: 'waiting', token: e.attempt, owner: e.owner, waitedMs: e.waitedMs }),
    ),
  );
  try {
    handle = await runonce.lock(name, {
      lease: config.lease,
      stopGrace: config.killGrace,
      onBusy: config.onBusy,
      waitTimeout: config.waitTimeout,
      signal: interrupt.signal,
    });
    if (!handle) {
      say('held elsewhere, skipping (--on-busy skip)', undefined, { event: 'skipped', reason: 'busy' });
      return ExitCode.ok;
    }
    say(
      `acquired (token ${handle.fencingToken}), running: ${commandLine(input.command, input.shell === true)}`,
      undefined,
      {
        event: 'acquired',
        token: handle.fencingToken,
      },
    );
    if (stops.signal) {
      await handle.release();
      say(`interrupted by ${stops.signal} before the command started; released`, 'warn', {
        event: 'interrupted',
        signal: stops.signal,
      });
      return signalExitCode(stops.signal);
    }
    const held = handle;
    const onLost = () =>
      say(`lease lost (${(held.signal.reason as Error)?.message ?? 'unknown'}), stopping the command`, 'bad', {
        event: 'lease_lost',
        token: held.fencingToken,
        reason: (held.signal.reason as Error)?.message,
      });
    held.signal.addEventListener('abort', onLost, { once: true });
    const child = startUnderLease(
      held,
      {
        command: input.command,
        shell: input.shell === true,
        env: {
          ...io.env,
          RUNONCE_LOCK: name,
          RUNONCE_NAMESPACE: runonce.namespace,
          RUNONCE_FENCING_TOKEN: String(held.fencingToken),
        },
      },
      { reporter, graceMs: config.killGrace, say },
    );
    stops.child = child;
    const exit = await child.exited;
    held.signal.removeEventListener('abort', onLost);
    if (exit.error) say(exit.error, 'bad', { event: 'command_error', exitCode: exit.code });
    if (handle.signal.aborted) {
      await handle.release().catch(() => {});
      return ExitCode.tempFail;
    }
    await handle.release();
    if (stops.signal) {
      say(`interrupted by ${stops.signal}; released`, 'warn', {
        event: 'interrupted',
        signal: stops.signal,
        exitCode: exit.code,
      });
      return exit.code === 0 ? ExitCode.ok : signalExitCode(stops.signal);
    }
    say(`released (command exit code ${exit.code})`, exit.code === 0 ? 'good' : 'bad', {
      event: 'released',
      token: handle.fencingToken,
      exitCode: exit.code,
    });
    return exit.code;
  } catch (error) {
    if (RunOnceError.is(error, 'E_INTERRUPTED')) {
      say(`interrupted by ${stops.signal ?? 'a signal'} while waiting`, 'warn', {
        event: 'interrupted',
        signal: stops.signal,
      });
      return stops.signal ? signalExitCode(stops.signal) : exitCodeFor(error);
    }
    if (RunOnceError.is(error, 'E_BUSY') || RunOnceError.is(error, 'E_WAIT_TIMEOUT')) {
      say(error.message, 'warn', { event: RunOnceError.is(error, 'E_BUSY') ? 'busy' : 'wait_timeout' });
      return exitCodeFor(error);
    }
    throw error;
  } finally {
    off();
    stops.dispose();
    reporter.close();
    await engine.close();
  }
}
