import { defineContractSuite } from '@runonce/contract-tests';
import { RunOnce } from '@runonce/core';
import { LocalRedisCluster } from '@runonce/test-servers';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisBackend, parseClusterNodes, RedisBackend } from '../src/index.js';

// Three masters on loopback (redis-cli --cluster create), for this file only.
const cluster = await LocalRedisCluster.start();
afterAll(() => cluster.stop());
const options = { cluster: cluster.spec, keyPrefix: 'runonce-cluster-contract' };

defineContractSuite({
  name: 'redis cluster (3 masters)',
  backend: async () => createRedisBackend(options),
  createNext: true,
  watch: true,
  watchBySlot: true,
  spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createRedisBackend', options },
  unreachable: async () => createRedisBackend({ cluster: '127.0.0.1:1', connectTimeoutMs: 500 }),
});

/** Which node serves a hash slot, by its port and id (from each node's own line of CLUSTER NODES). */
function ownerOf(slot: number): { port: number; id: string } {
  for (const n of cluster.nodes) {
    const self = cluster
      .cli(n.port, 'cluster', 'nodes')
      .split('\n')
      .find((l) => l.includes('myself'));
    const fields = self?.split(' ') ?? [];
    const owns = fields.slice(8).some((r) => {
      const [a, b] = r.split('-').map(Number);
      return slot >= (a as number) && slot <= (b ?? a ?? -1);
    });
    if (owns) return { port: n.port, id: fields[0] as string };
  }
  throw new Error(`no node owns slot ${slot}`);
}

/** Move one hash slot, with its keys, from its node to another, as `redis-cli --cluster reshard` does. */
function moveSlot(slot: number): { from: number; to: number } {
  const from = ownerOf(slot);
  const toNode = cluster.nodes.find((n) => n.port !== from.port) as { port: number };
  const to = { port: toNode.port, id: cluster.cli(toNode.port, 'cluster', 'myid') };
  cluster.cli(to.port, 'cluster', 'setslot', String(slot), 'importing', from.id);
  cluster.cli(from.port, 'cluster', 'setslot', String(slot), 'migrating', to.id);
  for (;;) {
    const keys = cluster.cli(from.port, 'cluster', 'getkeysinslot', String(slot), '100').split('\n').filter(Boolean);
    if (keys.length === 0) break;
    cluster.cli(from.port, 'migrate', '127.0.0.1', String(to.port), '', '0', '5000', 'keys', ...keys);
  }
  for (const n of cluster.nodes) cluster.cli(n.port, 'cluster', 'setslot', String(slot), 'node', to.id);
  return { from: from.port, to: to.port };
}

describe('redis cluster: slots that move', () => {
  it('a task whose record moves to another node mid-task (resharding) still runs once and records done', async () => {
    const backend = new RedisBackend({ cluster: cluster.spec });
    const other = new RedisBackend({ cluster: cluster.spec });
    const namespace = `rs${Date.now().toString(36)}`;
    const runner = new RunOnce({ backend, namespace, owner: 'a' });
    const waiter = new RunOnce({ backend: other, namespace, owner: 'b' });
    const key = `runonce:${namespace}:mig:initial`;
    const probe = new Redis(cluster.nodes[0]?.port as number, '127.0.0.1');
    const slot = Number(await probe.cluster('KEYSLOT', key));
    let ran = 0;
    let moved: { from: number; to: number } | undefined;
    const first = runner.run(
      'mig',
      async () => {
        ran++;
        await new Promise((r) => setTimeout(r, 400));
        moved = moveSlot(slot); // renewals and the final write now meet MOVED and follow it
        await new Promise((r) => setTimeout(r, 1200));
      },
      { lease: '1s' },
    );
    await new Promise((r) => setTimeout(r, 100));
    const second = waiter.run(
      'mig',
      async () => {
        ran++;
      },
      { lease: '1s' },
    );
    const [a, b] = await Promise.all([first, second]);
    expect(ran).toBe(1);
    expect(a.state).toBe('done');
    expect(b.state).toBe('done');
    expect(moved && moved.from !== moved.to).toBe(true);
    // the record now lives on the node the slot moved to
    const target = new Redis(moved?.to as number, '127.0.0.1');
    expect(await target.exists(key)).toBe(1);
    target.disconnect();
    probe.disconnect();
    await Promise.all([backend.close(), other.close()]);
  });

  it('the lock cycle across a slot move: tokens keep increasing, never two holders', async () => {
    const backend = new RedisBackend({ cluster: cluster.spec });
    const namespace = `lk${Date.now().toString(36)}`;
    const runonce = new RunOnce({ backend, namespace });
    const key = `runonce:${namespace}:_lock:job`;
    const probe = new Redis(cluster.nodes[0]?.port as number, '127.0.0.1');
    const slot = Number(await probe.cluster('KEYSLOT', key));
    const tokens: number[] = [];
    let holders = 0;
    let most = 0;
    const cycle = async () => {
      for (let i = 0; i < 15; i++) {
        await runonce.withLock(
          'job',
          async ({ fencingToken }) => {
            holders++;
            most = Math.max(most, holders);
            tokens.push(fencingToken);
            await new Promise((r) => setTimeout(r, 2));
            holders--;
          },
          { lease: '2s', waitTimeout: '20s' },
        );
      }
    };
    const done = Promise.all([cycle(), cycle(), cycle()]);
    await new Promise((r) => setTimeout(r, 150));
    const before = tokens.length;
    const { to } = moveSlot(slot);
    await done;
    expect(before).toBeLessThan(40); // the slot moved while the holders were cycling
    expect(cluster.cli(to, 'exists', key)).toBe('1');
    expect(most).toBe(1);
    expect(tokens).toHaveLength(45);
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(45);
    probe.disconnect();
    await backend.close();
  });

  it('reads its nodes as host:port and refuses anything else', () => {
    expect(parseClusterNodes('10.0.0.1:7000, cache-0001.internal:6379')).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'cache-0001.internal', port: 6379 },
    ]);
    for (const bad of ['', 'host', 'host:0', 'redis://h:1', 'h:99999'])
      expect(() => parseClusterNodes(bad), bad).toThrow(/Redis Cluster/);
  });
});
