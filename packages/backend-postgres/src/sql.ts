import { ValidationError } from '@runonce/core';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** `table` or `schema.table`, each a plain identifier, double-quoted (so its case is kept). */
export function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p)))
    throw new ValidationError(
      `PostgreSQL table must be a name or schema.name of letters, digits and _ (at most 63 each), got ${JSON.stringify(table)}`,
    );
  return parts.map((p) => `"${p}"`).join('.');
}

/**
 * The least privilege, as SQL to paste: the four row privileges on the one table for the role runonce
 * runs as, and CREATE on the schema only for whoever runs `runonce init`. `ROLE` is a placeholder.
 */
export function grantsFor(table: string, role = 'runonce_app'): string {
  const quoted = quoteTable(table);
  const schema = table.includes('.') ? quoted.split('.')[0] : 'public';
  return [
    `GRANT USAGE ON SCHEMA ${schema} TO ${role};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${quoted} TO ${role};`,
    `-- only for the role that runs \`runonce init\` (or create the table as its owner):`,
    `GRANT CREATE ON SCHEMA ${schema} TO ${role};`,
  ].join('\n');
}
