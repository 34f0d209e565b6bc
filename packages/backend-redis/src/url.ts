import { ConfigError } from '@runonce/core';

export interface RedisConnection {
  readonly host: string;
  readonly port: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly db: number;
  /** `rediss://`: connect with TLS, verifying the server's certificate against the system CAs. */
  readonly tls: boolean;
}

/**
 * `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS.
 * User and password are percent-decoded; a password alone (`redis://:pw@host`)
 * is the legacy `requirepass` AUTH. Anything else is a configuration error,
 * never a silent default.
 */
export function parseRedisUrl(text: string): RedisConnection {
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new ConfigError(`not a Redis URL: ${redact(text)} (expected redis://host:port or rediss://host:port)`, {
      cause,
    });
  }
  const tls = url.protocol === 'rediss:';
  if (!tls && url.protocol !== 'redis:')
    throw new ConfigError(`Redis URL must start with redis:// or rediss://, got ${url.protocol}//`);
  if (!url.hostname) throw new ConfigError(`Redis URL has no host: ${redact(text)}`);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path))
    throw new ConfigError(`Redis URL path must be a database number, got /${path} in ${redact(text)}`);
  const db = path === '' ? 0 : Number(path);
  const port = url.port === '' ? 6379 : Number(url.port);
  // URL keeps IPv6 hosts bracketed; the socket wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return { host, port, username, password, db, tls };
}

/** The URL with its password replaced, for messages and logs. */
export function redact(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
  }
}
