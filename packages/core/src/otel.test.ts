import * as api from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from './backends/memory.js';
import { RunOnce } from './engine.js';
import { instrument } from './otel.js';

// The real OpenTelemetry SDK with its in-memory exporters, registered as the global providers the
// API hands out: what an app does with an OTLP exporter instead.
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
api.trace.setGlobalTracerProvider(tracerProvider);
const metricsOut = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricsOut, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [reader] });
api.metrics.setGlobalMeterProvider(meterProvider);
afterAll(async () => {
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

async function collected(): Promise<Map<string, { value: unknown; attributes: api.Attributes }[]>> {
  await reader.forceFlush();
  const out = new Map<string, { value: unknown; attributes: api.Attributes }[]>();
  for (const rm of metricsOut.getMetrics().at(-1)?.scopeMetrics ?? []) {
    for (const m of rm.metrics) {
      out.set(
        m.descriptor.name,
        m.dataPoints.map((d) => ({ value: d.value, attributes: d.attributes })),
      );
    }
  }
  return out;
}

describe('OpenTelemetry from the library (@runonce/core/otel)', () => {
  it('counts claims, skips and failures, times tasks, and makes a span per run and per lock with the fencing token', async () => {
    const backend = new MemoryBackend();
    const a = new RunOnce({ backend, namespace: 'otel', owner: 'a' });
    const undo = await instrument(a, { api });
    await a.run('migrate', () => 'ok', { scope: 's1' });
    await a.run('migrate', () => 'again', { scope: 's1' }); // skipped: done
    await expect(
      a.run('seed', () => Promise.reject(Object.assign(new Error('boom'), { exitCode: 2 })), { scope: 's1' }),
    ).rejects.toThrow(/failed/);
    const handle = await a.lock('nightly');
    await handle.release();
    await a.withLock('nightly', () => 'inside');

    const m = await collected();
    expect(m.get('runonce.claims')).toEqual(
      expect.arrayContaining([
        { value: 1, attributes: { 'runonce.namespace': 'otel', 'runonce.task': 'migrate', 'runonce.takeover': false } },
        { value: 2, attributes: { 'runonce.namespace': 'otel', 'runonce.lock': 'nightly', 'runonce.takeover': false } },
      ]),
    );
    expect(m.get('runonce.skips')).toEqual([
      { value: 1, attributes: { 'runonce.namespace': 'otel', 'runonce.task': 'migrate', 'runonce.reason': 'done' } },
    ]);
    expect(m.get('runonce.failures')?.[0]).toMatchObject({ value: 1, attributes: { 'runonce.task': 'seed' } });
    const durations = m.get('runonce.task.duration') ?? [];
    expect(durations.map((d) => d.attributes['runonce.outcome']).sort()).toEqual(['done', 'failed']);

    const finished = spans.getFinishedSpans();
    const runs = finished.filter((s) => s.name === 'runonce.run');
    expect(runs.map((s) => [s.attributes['runonce.task'], s.attributes['runonce.ran_here'] ?? null])).toEqual([
      ['migrate', true],
      ['migrate', false],
      ['seed', null],
    ]);
    expect(runs[0]?.attributes['runonce.fencing_token']).toBe(1);
    expect(runs[2]?.status.code).toBe(api.SpanStatusCode.ERROR);
    expect(runs[2]?.attributes['runonce.error_code']).toBe('E_TASK_FAILED');
    const locks = finished.filter((s) => s.name === 'runonce.lock');
    expect(locks.map((s) => s.attributes['runonce.fencing_token'])).toEqual([1, 2]);

    // Undone: no more spans or counts from this engine.
    undo();
    spans.reset();
    await a.run('other', () => 1, { scope: 's1' });
    expect(spans.getFinishedSpans()).toEqual([]);
  });
});
