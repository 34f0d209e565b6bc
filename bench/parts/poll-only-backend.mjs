// The file backend without its `watch`: waiters only poll, as every backend did before wake-ups.
// The waiters part runs the CLI on it (as a third-party backend module) for the baseline of its ratio.
import { createFileBackend } from '@runonce/core';
import { ContainerModule } from 'inversify';

export const pollOnlyFileBackendModule = new ContainerModule(({ bind }) => {
  bind(Symbol.for('runonce.BackendFactory')).toConstantValue((config) => {
    const inner = createFileBackend({ dir: config.backendOptions.dir });
    return {
      name: 'file (polling only)',
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
