import { type JsonObject, type RecordKey, ValidationError } from '@runonce/core';

/**
 * Parameter layout: slot n of record [s1, s2, …] is the String parameter
 * `<prefix>/s1/s2/…/n` (Standard tier). So attempt 2 of scope `v42` of task
 * `db-migration` in namespace `shop` is `/runonce/shop/db-migration/v42/2`.
 *
 * The generation pointer [ns, task] and a scope record [ns, task, '1'] then
 * share names: `/runonce/ns/task/1` is generation slot 1 *and* the path that
 * holds `/runonce/ns/task/1/1`, attempt 1 of scope `1`. That is unambiguous
 * because Parameter Store is flat with names as keys: AWS documents that
 * `/Test/TestParam1` and `/Test/TestParam1/Logpath1` are two distinct
 * parameters and that "you can define a parameter at any level of the
 * hierarchy" (Systems Manager user guide, parameter name requirements); moto
 * behaves the same (the contract and layout tests check it). A record's slots
 * are read with a NON-recursive GetParametersByPath, which returns only the
 * direct children of the path, so a record never sees the records below it,
 * and the slot number is always the last level of a name, so `list` can cut
 * it off without knowing the depth. Were a store ever to refuse a parameter
 * below another one, the put would fail with a ValidationException, which
 * surfaces as ValidationError: never as a wrong won/lost.
 */

/** SSM's limits on names and values (Standard tier). */
export const SSM_LIMITS = { levels: 15, nameLength: 1011, valueBytes: 4096 } as const;

const LEVEL = /^[A-Za-z0-9_.-]+$/;

export function validatePrefix(prefix: string): string {
  const levels = prefix.split('/').slice(1);
  if (
    typeof prefix !== 'string' ||
    !prefix.startsWith('/') ||
    levels.length === 0 ||
    !levels.every((l) => LEVEL.test(l)) ||
    /^(aws|ssm)/i.test(levels[0] ?? '')
  ) {
    throw new ValidationError(
      `invalid SSM prefix ${JSON.stringify(prefix)}: use /level[/level…] with A-Z a-z 0-9 _ . - in each level, ` +
        'no trailing slash, not starting with "aws" or "ssm"',
    );
  }
  // at least one key level and the slot must fit below it
  if (levels.length > SSM_LIMITS.levels - 2) {
    throw new ValidationError(`SSM prefix ${prefix} has ${levels.length} levels; at most ${SSM_LIMITS.levels - 2}`);
  }
  return prefix;
}

/** `<prefix>/s1/…/sk`: the path that holds a record's slots. */
export function recordPath(prefix: string, key: RecordKey, allowEmpty = false): string {
  if (!Array.isArray(key) || (key.length === 0 && !allowEmpty)) {
    throw new ValidationError(`a record key needs at least one segment, got ${JSON.stringify(key)}`);
  }
  for (const seg of key) {
    if (typeof seg !== 'string' || !LEVEL.test(seg)) {
      throw new ValidationError(
        `invalid key segment ${JSON.stringify(seg)} in ${JSON.stringify(key)}: SSM names allow only A-Z a-z 0-9 _ . -`,
      );
    }
  }
  return key.length === 0 ? prefix : `${prefix}/${key.join('/')}`;
}

/** The parameter name of slot `index` of a record, checked against SSM's limits. */
export function slotName(prefix: string, key: RecordKey, index: number): string {
  if (!Number.isSafeInteger(index) || index < 1) {
    throw new ValidationError(`slot index must be a positive integer, got ${index}`);
  }
  const name = `${recordPath(prefix, key)}/${index}`;
  const levels = name.split('/').length - 1;
  if (levels > SSM_LIMITS.levels) {
    throw new ValidationError(
      `SSM parameter ${name} would have ${levels} levels; SSM allows ${SSM_LIMITS.levels} (prefix + key + slot)`,
    );
  }
  if (name.length > SSM_LIMITS.nameLength) {
    throw new ValidationError(
      `SSM parameter name is ${name.length} characters; SSM allows ${SSM_LIMITS.nameLength}: ${name.slice(0, 80)}…`,
    );
  }
  return name;
}

/** Splits `<prefix>/s1/…/sk/n` into its key and slot; undefined for a name runonce did not make. */
export function parseSlotName(prefix: string, name: string): { key: string[]; index: number } | undefined {
  if (!name.startsWith(`${prefix}/`)) return undefined;
  const levels = name.slice(prefix.length + 1).split('/');
  const last = levels.pop() as string;
  if (!/^[1-9][0-9]*$/.test(last) || levels.length === 0) return undefined;
  const index = Number(last);
  return Number.isSafeInteger(index) ? { key: levels, index } : undefined;
}

/**
 * What a parameter holds. A create stamps a random creator token `c` so that
 * the first entry of the parameter's history names one winner even when two
 * creates both "succeed" (see backend.ts); a write carries no token, since
 * only the winner writes.
 */
export type Envelope = { kind: 'created'; token: string; data: JsonObject } | { kind: 'written'; data: JsonObject };

export function encodeCreated(token: string, data: JsonObject): string {
  return checkSize(JSON.stringify({ c: token, d: data }));
}

export function encodeWritten(data: JsonObject): string {
  return checkSize(JSON.stringify({ d: data }));
}

/** Undefined when the text is not a runonce envelope. */
export function decodeEnvelope(text: string | undefined): Envelope | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { c, d } = v as { c?: unknown; d?: unknown };
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  if (typeof c === 'string') return { kind: 'created', token: c, data: d as JsonObject };
  if (c === undefined) return { kind: 'written', data: d as JsonObject };
  return undefined;
}

function checkSize(text: string): string {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SSM_LIMITS.valueBytes) {
    throw new ValidationError(
      `slot value is ${bytes} bytes stored; SSM Standard-tier parameters hold at most ${SSM_LIMITS.valueBytes}`,
    );
  }
  return text;
}
