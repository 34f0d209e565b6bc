// OpenTelemetry for the library: metrics from the engine's events and a span per run and per lock,
// through `@opentelemetry/api`, an optional peer dependency. Nothing is loaded until `instrument()`
// is called, and when the package is not installed it does nothing. Core itself stays free of it:
// this is the `@runonce/core/otel` entry, which the CLI never loads.
import type { Attributes, Meter, Span, Tracer } from '@opentelemetry/api';
import type { RunOnce } from './engine.js';
import { RunOnceError } from './errors.js';
import type { LockHandle, LockOptions, Outcome, RunOptions } from './types.js';

type Api = typeof import('@opentelemetry/api');

export interface InstrumentOptions {
  /** The API module to use (default: `import('@opentelemetry/api')`, if installed). */
  readonly api?: Api;
  /** Instrumentation scope name for the meter and the tracer. Default `@runonce/core`. */
  readonly name?: string;
}

/**
 * Instrument one engine. Metrics (meter `@runonce/core`): counters
 * `runonce.claims` (attribute `runonce.takeover`), `runonce.skips`
 * (`runonce.reason`), `runonce.takeovers`, `runonce.leases_lost`,
 * `runonce.failures`; histograms `runonce.wait.duration` and
 * `runonce.task.duration` (ms). Spans: `runonce.run` for each `run()`, and
 * `runonce.lock` from `lock()` to the handle's `release()` (and for
 * `withLock`), with `runonce.fencing_token` once known. Every measurement
 * carries `runonce.namespace` and `runonce.task` (or `runonce.lock`).
 * Returns the undo; resolves to a no-op undo when `@opentelemetry/api` is not
 * installed.
 */
export async function instrument(runonce: RunOnce, o: InstrumentOptions = {}): Promise<() => void> {
  const api = o.api ?? (await import('@opentelemetry/api').catch(() => undefined));
  if (!api) return () => {};
  const name = o.name ?? '@runonce/core';
  const meter = api.metrics.getMeter(name);
  const tracer = api.trace.getTracer(name);
  const offEvents = countEvents(runonce, meter);
  const restore = traceCalls(runonce, tracer, api);
  return () => {
    offEvents();
    restore();
  };
}

function countEvents(runonce: RunOnce, meter: Meter): () => void {
  const ns = runonce.namespace;
  const where = (e: { task: string; lock?: boolean }): Attributes => ({
    'runonce.namespace': ns,
    [e.lock ? 'runonce.lock' : 'runonce.task']: e.task,
  });
  const claims = meter.createCounter('runonce.claims', { description: 'attempts (or lock tokens) claimed here' });
  const skips = meter.createCounter('runonce.skips', { description: 'runs that skipped: done elsewhere, or busy' });
  const takeovers = meter.createCounter('runonce.takeovers', { description: 'claims of a dead attempt' });
  const lost = meter.createCounter('runonce.leases_lost', { description: 'leases this instance lost' });
  const failures = meter.createCounter('runonce.failures', { description: 'tasks that failed here' });
  const waits = meter.createHistogram('runonce.wait.duration', { unit: 'ms', description: 'time spent waiting' });
  const tasks = meter.createHistogram('runonce.task.duration', { unit: 'ms', description: 'time a task ran here' });
  const off = [
    runonce.on('claimed', (e) => claims.add(1, { ...where(e), 'runonce.takeover': e.takeover })),
    runonce.on('skipped', (e) => skips.add(1, { ...where(e), 'runonce.reason': e.reason })),
    runonce.on('takeover', (e) => takeovers.add(1, where(e))),
    runonce.on('lost', (e) => lost.add(1, where(e))),
    runonce.on('failed', (e) => {
      failures.add(1, where(e));
      tasks.record(e.durationMs, { ...where(e), 'runonce.outcome': 'failed' });
    }),
    runonce.on('done', (e) => tasks.record(e.durationMs, { ...where(e), 'runonce.outcome': 'done' })),
    runonce.on('waited', (e) => waits.record(e.waitedMs, { ...where(e), 'runonce.outcome': e.outcome })),
  ];
  return () => {
    for (const f of off) f();
  };
}

/** Wrap this engine's run, lock and withLock in spans (on the instance: other engines are untouched). */
function traceCalls(runonce: RunOnce, tracer: Tracer, api: Api): () => void {
  const ns = runonce.namespace;
  /** Await `work` inside `span`: its attributes on success, the error on failure, and the span ended either way. */
  const within = async <T>(span: Span, work: () => Promise<T>, attributes?: (out: T) => Attributes): Promise<T> => {
    try {
      const out = await work();
      if (attributes) span.setAttributes(attributes(out));
      return out;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: (error as Error)?.message });
      if (RunOnceError.is(error)) span.setAttribute('runonce.error_code', error.code);
      throw error;
    } finally {
      span.end();
    }
  };
  const target = runonce as unknown as Record<'run' | 'lock' | 'withLock', (...args: never[]) => Promise<unknown>>;
  const original = { run: target.run, lock: target.lock, withLock: target.withLock };

  const run = original.run.bind(runonce) as RunOnce['run'];
  target.run = ((task: string, fn: Parameters<RunOnce['run']>[1], options?: RunOptions) =>
    tracer.startActiveSpan('runonce.run', { attributes: { 'runonce.namespace': ns, 'runonce.task': task } }, (span) =>
      within(
        span,
        () => run(task, fn, options),
        (out: Outcome<unknown>) => ({
          'runonce.scope': out.scope,
          'runonce.attempt': out.attempt,
          'runonce.fencing_token': out.attempt,
          'runonce.ran_here': out.ranHere,
          'runonce.state': out.state,
        }),
      ),
    )) as never;

  // lock(): the span lasts from the call to the handle's release(), so it is ended there, not here.
  const lock = original.lock.bind(runonce) as (name: string, options?: LockOptions) => Promise<LockHandle | undefined>;
  target.lock = (async (name: string, options?: LockOptions) => {
    const span = tracer.startSpan('runonce.lock', { attributes: { 'runonce.namespace': ns, 'runonce.lock': name } });
    let handle: LockHandle | undefined;
    try {
      handle = await lock(name, options);
    } catch (error) {
      return within(span, () => Promise.reject(error));
    }
    if (!handle)
      return within(
        span,
        async () => handle,
        () => ({ 'runonce.acquired': false }),
      );
    span.setAttributes({ 'runonce.acquired': true, 'runonce.fencing_token': handle.fencingToken });
    const release = handle.release.bind(handle);
    return Object.assign(Object.create(handle) as LockHandle, { release: () => within(span, release) });
  }) as never;

  const withLock = original.withLock.bind(runonce) as RunOnce['withLock'];
  target.withLock = ((name: string, fn: Parameters<RunOnce['withLock']>[1], options?: LockOptions) =>
    tracer.startActiveSpan('runonce.lock', { attributes: { 'runonce.namespace': ns, 'runonce.lock': name } }, (span) =>
      within(
        span,
        () => withLock(name, fn, options),
        (out): Attributes =>
          out.acquired
            ? { 'runonce.acquired': true, 'runonce.fencing_token': out.fencingToken }
            : { 'runonce.acquired': false },
      ),
    )) as never;

  return () => {
    target.run = original.run;
    target.lock = original.lock;
    target.withLock = original.withLock;
  };
}
