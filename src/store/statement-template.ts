import type { Compilable } from 'kysely';

const MARK = '\u0000crmsync-template:';

/**
 * A Kysely query built and compiled once, then bound with new values on every run. Building a
 * query costs more than SQLite takes to run it, so the hottest path (webhook ingest on SQLite)
 * runs the compiled text as a prepared statement instead — while the query itself is still
 * written once, in Kysely, next to the code that runs it the ordinary way.
 *
 * `build` receives `value(name)` markers in place of values; where each marker lands among the
 * compiled parameters is remembered, and `bind` puts the real values there.
 */
export class StatementTemplate<N extends string> {
  readonly sql: string;
  private readonly slots: ({ name: N } | { constant: unknown })[];

  constructor(build: (value: (name: N) => never) => Compilable) {
    const compiled = build((name) => `${MARK}${name}` as never).compile();
    this.sql = compiled.sql;
    this.slots = compiled.parameters.map((p) =>
      typeof p === 'string' && p.startsWith(MARK) ? { name: p.slice(MARK.length) as N } : { constant: p },
    );
  }

  /** The parameters for one run, in the compiled query's order. */
  bind(values: Record<N, unknown>): unknown[] {
    return this.slots.map((slot) => {
      if ('constant' in slot) return slot.constant;
      const v = values[slot.name];
      if (v === undefined) throw new Error(`statement template: no value for ${slot.name}`);
      return v;
    });
  }
}

/** A one-row statement with a marker in every column of `sample`'s shape, named by the column. */
export function rowTemplate<R extends object>(sample: R, build: (row: R) => Compilable): StatementTemplate<string> {
  return new StatementTemplate<string>((value) => build(Object.fromEntries(Object.keys(sample).map((column) => [column, value(column)])) as R));
}
