// The keeper: a small process of its own that starts the command and is the
// only thing that decides, on its own clock, when the command must stop. It
// runs beside runonce rather than inside it, so a stall of runonce's event loop
// (SIGSTOP, a long GC, a debugger) cannot keep the command alive past the
// lease: a dead-man's switch that runonce's renewals keep from firing.
//
// It imports nothing but Node's built-ins and uses only TypeScript that Node
// can strip (a test can run this very file), so it starts in a few tens of
// milliseconds. From npm it runs as `node keeper.js __supervise <spec>`; the
// standalone executable runs itself as `runonce __supervise <spec>`. Why not a
// shell: POSIX sh has no `read -t`, so it cannot wait for "a renewal or a
// deadline, whichever comes first", and a `sleep` beside it runs on the clock
// that stands still while the machine is suspended.
//
// Protocol, one line per message on fd 3 (a socket pair only runonce holds):
//   runonce → keeper  `r <killAt>`        a renewal was confirmed: the command must be gone by killAt
//                                         (CLOCK_MONOTONIC ms, the clock every process of the host
//                                         shares): SIGTERM at killAt − grace, SIGKILL at killAt, unless
//                                         another renewal comes first
//                     `s <killAt> [SIG]`  stop now: SIGTERM (or SIGINT/SIGHUP, as runonce received
//                                         it), SIGKILL at killAt (never later than a deadline set)
//                     `k`                 SIGKILL now
//                     end of file         runonce is gone: SIGTERM now, SIGKILL after the grace, never
//                                         later than a deadline already set
//   keeper → runonce  `p <pid>`           the command started
//                     `f term|kill`       the switch fired: no renewal in time
//                     `e <code> <signal|->`  the command exited; the keeper exits after it
//                     `x <errno> <message>`  the command was not started
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { constants, uptime } from 'node:os';

export interface KeeperSpec {
  readonly file: string;
  readonly args: readonly string[];
  /** SIGTERM to SIGKILL. */
  readonly graceMs: number;
  /** The claim's deadline: the command must be gone by then unless a renewal moves it. */
  readonly killAt: number;
}

/** Whether any process of the group is left (signal 0 checks without sending). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The argument that makes a runonce process the keeper; its spec (JSON) follows it. */
export const KEEPER_ARG = '__supervise';

/** CLOCK_MONOTONIC in ms, as core's systemClock.monotonic() reads it. */
const monotonicNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** How often the keeper compares its clock with the boot-time clock to notice that the machine was suspended. */
const FREEZE_CHECK_MS = 200;

export function supervise(spec: KeeperSpec): void {
  const control = new Socket({ fd: 3, readable: true, writable: true });
  const tell = (line: string) => {
    if (!control.destroyed && control.writable) control.write(`${line}\n`);
  };
  control.on('error', () => {}); // runonce gone: handled at 'close'

  let termAt = spec.killAt - spec.graceMs;
  let killAt = spec.killAt;
  let termSent = false;
  let killSent = false;
  let exited = false;
  let timer: NodeJS.Timeout | undefined;
  let freezeCheck: NodeJS.Timeout | undefined;

  const finish = (code: number) => {
    exited = true;
    if (timer) clearTimeout(timer);
    if (freezeCheck) clearInterval(freezeCheck);
    control.end(() => process.exit(code));
    setTimeout(() => process.exit(code), 1000).unref();
  };

  // Held up between the claim and here (runonce paused): SIGTERM would be due at once, and a waiter may
  // take over soon. Never start it.
  if (monotonicNow() >= termAt) {
    tell('x ETIMEDOUT the lease ran out before the command could start');
    finish(0);
    return;
  }

  const child = spawn(spec.file, spec.args as string[], { stdio: 'inherit', detached: true });
  const group = (sig: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    }
  };

  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (exited || killSent) return;
    const next = termSent ? killAt : termAt;
    timer = setTimeout(check, Math.max(0, next - monotonicNow()));
  };
  const check = () => {
    if (exited) return;
    const now = monotonicNow();
    if (!killSent && now >= killAt) {
      killSent = true;
      termSent = true;
      group('SIGKILL');
      tell('f kill');
    } else if (!termSent && now >= termAt) {
      termSent = true;
      group('SIGTERM');
      tell('f term');
    }
    schedule();
  };
  const stopBy = (deadline: number, sig: NodeJS.Signals = 'SIGTERM') => {
    killAt = Math.min(killAt, deadline);
    if (!termSent) {
      termSent = true;
      group(sig);
    }
    check();
  };

  // CLOCK_MONOTONIC stands still while the machine is suspended; the boot-time clock does not, and
  // neither did the store's other clients. Deadlines set before a freeze come that much closer, and
  // a passed one is acted on at once: the overlap after a resume is bounded by this check's period.
  let mono0 = monotonicNow();
  let boot0 = uptime() * 1000;
  freezeCheck = setInterval(() => {
    const mono = monotonicNow();
    const boot = uptime() * 1000;
    const frozen = boot - boot0 - (mono - mono0);
    mono0 = mono;
    boot0 = boot;
    if (frozen > FREEZE_CHECK_MS) {
      termAt -= frozen;
      killAt -= frozen;
      check();
    }
  }, FREEZE_CHECK_MS);

  let buffered = '';
  control.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const [kind, arg, sig] = buffered.slice(0, nl).split(' ');
      buffered = buffered.slice(nl + 1);
      const at = Number(arg);
      if (kind === 'r' && Number.isFinite(at) && !termSent) {
        killAt = at;
        termAt = at - spec.graceMs;
        check();
      } else if (kind === 's' && Number.isFinite(at)) {
        stopBy(at, sig === 'SIGINT' || sig === 'SIGHUP' ? sig : 'SIGTERM');
      } else if (kind === 'k') {
        stopBy(monotonicNow());
      }
    }
  });
  control.on('close', () => stopBy(monotonicNow() + spec.graceMs));
  // Signalled itself (`pkill -f runonce`): stop the command as runonce would, and exit after it.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => stopBy(monotonicNow() + spec.graceMs));
  }

  child.once('spawn', () => tell(`p ${child.pid}`));
  child.once('error', (e: NodeJS.ErrnoException) => {
    tell(`x ${e.code ?? 'EUNKNOWN'} ${e.message.replace(/\n/g, ' ')}`);
    finish(0);
  });
  child.once('exit', (code, signal) => {
    if (exited) return; // a spawn error was reported already
    const report = () => {
      tell(`e ${signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1)} ${signal ?? '-'}`);
      finish(0);
    };
    // Being stopped, the command is gone only when its whole group is: `sh -c` dies at SIGTERM while what
    // it started may still be cleaning up, and an `abandoned` recorded now would let a waiter start
    // beside it. Wait for the group (SIGKILL at the deadline still applies). A command that ended on
    // its own may leave background processes behind on purpose: those are not waited for.
    if (!termSent) return report();
    const pgid = child.pid as number;
    const poll = setInterval(() => {
      if (groupAlive(pgid) && monotonicNow() < killAt + 1000) return;
      clearInterval(poll);
      report();
    }, 20);
  });
  check();
}

if (process.argv[2] === KEEPER_ARG) supervise(JSON.parse(process.argv[3] ?? '') as KeeperSpec);
