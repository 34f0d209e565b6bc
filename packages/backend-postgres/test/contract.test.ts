import { defineContractSuite } from '@runonce/contract-tests';
import { freePort } from '@runonce/test-servers';
import { beforeAll, inject } from 'vitest';
import { createPostgresBackend } from '../src/index.js';

const closedPort = await freePort();

// The same suite straight to the server and through PgBouncer in transaction pooling mode, where
// consecutive statements of one client may run on different server connections.
for (const [name, url] of [
  ['postgres', inject('postgresUrl')],
  ['postgres (through pgbouncer, transaction pooling)', inject('pgbouncerUrl')],
] as const) {
  // Its own table per target, so list() never sees the other suite's records.
  const table = name === 'postgres' ? 'runonce_contract' : 'runonce_contract_bouncer';
  // Through the pooler, waiters LISTEN on a session of their own straight to the server (a transaction
  // pooler cannot keep a LISTEN), as docs/backends/postgres.md says to set it up.
  const options = { url, table, listenUrl: inject('postgresUrl') };
  beforeAll(async () => {
    const b = createPostgresBackend(options);
    await b.init();
    await b.close();
  });
  defineContractSuite({
    name,
    backend: async () => createPostgresBackend(options),
    createNext: true,
    watch: true,
    watchBySlot: true,
    spawn: { module: new URL('../dist/index.js', import.meta.url).href, exportName: 'createPostgresBackend', options },
    unreachable: async () =>
      createPostgresBackend({ url: `postgres://postgres@127.0.0.1:${closedPort}/postgres`, table }),
  });
}
