import { RunOnceError } from '@runonce/core';
import { Child } from '../../child.js';
import type { CliConfig } from '../../config.js';
import { onStopSignals, openEngine } from '../../engine.js';
import { ExitCode, exitCodeFor, signalExitCode } from '../../exit.js';
import { commandLine, type Io, processIo, Reporter, since } from '../../io.js';

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
  const reporter = new Reporter(io, config.logFile);
  const subject = `lock ${name}`;
  const say = (m: string, tone?: 'good' | 'bad' | 'warn') => reporter.line(subject, m, tone);
  const engine = await openEngine(config).catch((e: unknown) => {
    reporter.logOnly(`runonce: ${(e as Error).message}`);
    reporter.close();
    throw e;
  });
  const { runonce } = engine;
  const interrupt = new AbortController();
  let child: Child | undefined;
  let stopSignal: NodeJS.Signals | undefined;
  const disposeSignals = onStopSignals((signal) => {
    if (stopSignal) return child?.signal('SIGKILL');
    stopSignal = signal;
    child?.terminate(config.killGrace, signal);
    interrupt.abort(Object.assign(new Error(signal), { signal }));
  });
  const off = runonce.on('waiting', (e) =>
    reporter.waiting(subject, () => `held by ${e.owner} (token ${e.attempt}, for ${since(e.startedAt)})`),
  );
  try {
    const handle = await runonce.lock(name, {
      lease: config.lease,
      onBusy: config.onBusy,
      waitTimeout: config.waitTimeout,
      signal: interrupt.signal,
    });
    if (!handle) {
      say('held elsewhere, skipping (--on-busy skip)');
      return ExitCode.ok;
    }
    say(`acquired (token ${handle.fencingToken}), running: ${commandLine(input.command, input.shell === true)}`);
    child = new Child({
      command: input.command,
      shell: input.shell === true,
      reporter,
      tee: reporter.logFd !== undefined,
      graceMs: config.killGrace,
      env: {
        ...io.env,
        RUNONCE_LOCK: name,
        RUNONCE_NAMESPACE: runonce.namespace,
        RUNONCE_FENCING_TOKEN: String(handle.fencingToken),
      },
    });
    const onLost = () => {
      say(`lease lost (${(handle.signal.reason as Error)?.message ?? 'unknown'}), stopping the command`, 'bad');
      child?.terminate(config.killGrace);
    };
    handle.signal.addEventListener('abort', onLost, { once: true });
    const exit = await child.exited;
    handle.signal.removeEventListener('abort', onLost);
    if (exit.error) say(exit.error, 'bad');
    if (handle.signal.aborted) {
      await handle.release().catch(() => {});
      return ExitCode.tempFail;
    }
    await handle.release();
    if (stopSignal) {
      say(`interrupted by ${stopSignal}; released`, 'warn');
      return exit.code === 0 ? ExitCode.ok : signalExitCode(stopSignal);
    }
    say(`released (command exit code ${exit.code})`, exit.code === 0 ? 'good' : 'bad');
    return exit.code;
  } catch (error) {
    if (RunOnceError.is(error, 'E_INTERRUPTED')) {
      say(`interrupted by ${stopSignal ?? 'a signal'} while waiting`, 'warn');
      return stopSignal ? signalExitCode(stopSignal) : exitCodeFor(error);
    }
    if (RunOnceError.is(error, 'E_BUSY') || RunOnceError.is(error, 'E_WAIT_TIMEOUT')) {
      say(error.message, 'warn');
      return exitCodeFor(error);
    }
    throw error;
  } finally {
    off();
    disposeSignals();
    reporter.close();
    await engine.close();
  }
}
