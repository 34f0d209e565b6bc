import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP proxy between the CLI and a store, to inject network faults a server
 * does not produce on demand: latency on every chunk, a stall (bytes held,
 * connections open, as a black-holed network), dropped connections, and an
 * outage (new connections reset at once).
 */
export class FaultProxy {
  latencyMs = 0;
  down = false;
  #stalled: Promise<void> | undefined;
  #unstall: (() => void) | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (!addr || typeof addr !== 'object') throw new Error('proxy: no port');
    proxy = new FaultProxy(server, addr.port);
    return proxy;
  }

  /** Rewrite an endpoint URL (`http://127.0.0.1:N`, `redis://127.0.0.1:N`) to go through the proxy. */
  static targetOf(url: string): { host: string; port: number } {
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port) };
  }

  url(original: string): string {
    const u = new URL(original);
    u.port = String(this.port);
    return u.toString().replace(/\/$/, '');
  }

  accept(client: Socket, target: { host: string; port: number }): void {
    if (this.down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  /** Hold every byte (both ways) until `resume()`. */
  stall(): void {
    if (this.#stalled) return;
    this.#stalled = new Promise((r) => {
      this.#unstall = r;
    });
  }

  resume(): void {
    this.#unstall?.();
    this.#stalled = undefined;
    this.#unstall = undefined;
  }

  /** Reset every open connection (clients reconnect through the proxy). */
  drop(): void {
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.resume();
    this.drop();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  #pipe(from: Socket, to: Socket): void {
    // One chain per direction keeps the bytes in order whatever the delays.
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      chain = chain.then(async () => {
        if (this.#stalled) await this.#stalled;
        if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
        if (!to.destroyed) to.write(chunk);
      });
    });
    // A close travels behind the bytes still delayed in front of it, as on a slow wire.
    from.on('close', () => {
      chain = chain.then(() => {
        to.end();
      });
    });
  }
}
