/**
 * The commands the backend sends, scripts included (Redis checks a script's
 * calls against the ACL too). HELLO, AUTH, SELECT, PING and INFO are the
 * client's handshake and ready check.
 */
export const REDIS_COMMANDS = [
  'hello',
  'auth',
  'select',
  'ping',
  'info',
  'hgetall',
  'hkeys',
  'hexists',
  'hset',
  'hincrby',
  'hdel',
  'del',
  'expire',
  'scan',
  'eval',
  'evalsha',
  // wake-ups: the scripts PUBLISH on the record's own name; a waiter SUBSCRIBEs to it
  'publish',
  'subscribe',
  'unsubscribe',
] as const;

/**
 * An ACL rule (Redis ≥ 6) giving a user exactly what the backend needs, on
 * keys under its prefix only, e.g. for `ACL SETUSER` or a users.acl file:
 *
 *   user runonce on >PASSWORD resetkeys ~runonce:* resetchannels &runonce:* -@all +hello +auth …
 *
 * SCAN is keyspace-wide by nature: it lists names (not values) of other keys
 * that match the prefix pattern, which is why list() filters and the pattern
 * is the prefix itself.
 */
export function redisAcl(options: { user?: string; password?: string; keyPrefix?: string } = {}): string {
  const user = options.user ?? 'runonce';
  const password = options.password ?? 'PASSWORD';
  const prefix = options.keyPrefix ?? 'runonce';
  const commands = REDIS_COMMANDS.map((c) => `+${c}`).join(' ');
  return `user ${user} on >${password} resetkeys ~${prefix}:* resetchannels &${prefix}:* -@all ${commands}`;
}
