// A backend without its `watch`: waiters only poll, as every backend did before wake-ups. The waiters
// part runs the CLI on it (as a third-party backend module) for the baseline of its ratio.
// backendOptions: { kind: 'file', dir }, { kind: 'redis', url } or { kind: 'postgres', url }.
import { PostgresBackend } from '@runonce/backend-postgres';
import { RedisBackend } from '@runonce/backend-redis';
import { createFileBackend } from '@runonce/core';
import { ContainerModule } from 'inversify';

export const pollOnlyBackendModule = new ContainerModule(({ bind }) => {
  bind(Symbol.for('runonce.BackendFactory')).toConstantValue(({ backendOptions: o }) => {
    const inner =
      o.kind === 'redis'
        ? new RedisBackend({ url: o.url })
        : o.kind === 'postgres'
          ? new PostgresBackend({ url: o.url })
          : createFileBackend({ dir: o.dir });
    return {
      name: `${inner.name} (polling only)`,
      capabilities: inner.capabilities,
      read: (k) => inner.read(k),
      create: (k, i, v) => inner.create(k, i, v),
      write: (k, i, v) => inner.write(k, i, v),
      remove: (k) => inner.remove(k),
      removeSlot: (k, i) => inner.removeSlot(k, i),
      list: (p) => inner.list(p),
      close: () => inner.close(),
    };
  });
});
