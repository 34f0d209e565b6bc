import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MARKER, type WorkerJob, type WorkerMessage } from './protocol.js';

/** The compiled worker; also found when this file runs from src/ (then dist/ must be built). */
function workerPath(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? '../dist/race-worker.js' : './race-worker.js', here));
}

interface Child {
  readonly process: ChildProcess;
  readonly messages: AsyncGenerator<WorkerMessage>;
  stderr: string;
}

function start(job: WorkerJob): Child {
  const proc = spawn(process.execPath, [workerPath()], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  const child: Child = { process: proc, messages: messages(proc), stderr: '' };
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    child.stderr = (child.stderr + chunk).slice(-4000);
  });
  proc.stdin?.write(`${JSON.stringify(job)}\n`);
  return child;
}

async function* messages(proc: ChildProcess): AsyncGenerator<WorkerMessage> {
  let buffer = '';
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  proc.stdout?.setEncoding('utf8');
  for await (const chunk of proc.stdout as AsyncIterable<string>) {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith(MARKER)) yield JSON.parse(line.slice(MARKER.length)) as WorkerMessage;
    }
  }
  await exited;
}

async function expectMessage(child: Child, type: 'ready' | 'result'): Promise<WorkerMessage> {
  const next = await child.messages.next();
  if (next.done) {
    throw new Error(
      `race worker ${child.process.pid} exited (${child.process.exitCode}) before ${type}:\n${child.stderr}`,
    );
  }
  if (next.value.type === 'error')
    throw new Error(`race worker ${child.process.pid} failed: ${next.value.message}\n${child.stderr}`);
  if (next.value.type !== type)
    throw new Error(`race worker ${child.process.pid}: expected ${type}, got ${next.value.type}`);
  return next.value;
}

/**
 * Starts one worker process per job, waits until every one has built its
 * backend, then releases them all at once and collects their results.
 */
export async function raceInProcesses<R>(jobs: WorkerJob[], timeoutMs: number): Promise<R[]> {
  const children = jobs.map(start);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`race workers did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const run = async (): Promise<R[]> => {
      await Promise.all(children.map((c) => expectMessage(c, 'ready')));
      for (const c of children) c.process.stdin?.write('go\n');
      const results = await Promise.all(children.map((c) => expectMessage(c, 'result')));
      return results.map((m) => (m as { result: R }).result);
    };
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
    // Let each worker close its backend; one that hangs is killed.
    await Promise.all(children.map((c) => stop(c, 5000)));
  }
}

async function stop(child: Child, graceMs: number): Promise<void> {
  const proc = child.process;
  proc.stdin?.end();
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
