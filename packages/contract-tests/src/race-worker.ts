/**
 * A contender process for the multi-process races. Protocol over stdio, one
 * JSON line each way, so every process starts racing at the same moment:
 *
 *   parent → child   job            child builds its backend
 *   child  → parent  ready
 *   parent → child   go             (sent to all children once all are ready)
 *   child  → parent  result | error
 */
import { isAbsolute } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { Backend, JsonObject } from '@runonce/core';
import { claimRace, createRace, describeError } from './contenders.js';
import { MARKER, type WorkerJob, type WorkerMessage } from './protocol.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${MARKER}${JSON.stringify(message)}\n`, () => resolve()));
}

async function build(job: WorkerJob): Promise<Backend> {
  const specifier = isAbsolute(job.module) ? pathToFileURL(job.module).href : job.module;
  const mod = (await import(specifier)) as Record<string, unknown>;
  const factory = mod[job.exportName];
  if (typeof factory !== 'function') throw new Error(`${job.module} has no export ${job.exportName}`);
  return (await (factory as (options: JsonObject) => Backend | Promise<Backend>)(job.options)) as Backend;
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error('parent closed stdin');
    return line.value;
  };
  const job = JSON.parse(await next()) as WorkerJob;
  const backend = await build(job);
  try {
    await send({ type: 'ready' });
    if ((await next()) !== 'go') throw new Error('expected go');
    const result =
      job.mode === 'create'
        ? await createRace(backend, job.key, job.index, job.ids)
        : await claimRace(backend, job.key, job.index, job.ids);
    await send({ type: 'result', result });
  } finally {
    await backend.close();
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await send({ type: 'error', message: describeError(e) });
    process.exit(1);
  },
);
