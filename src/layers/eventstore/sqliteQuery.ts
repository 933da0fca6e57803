import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite"

/** A prepared statement whose parameters and rows are typed by the query that made it. */
export interface Query<P extends ReadonlyArray<SQLInputValue>, R> {
  readonly all: (...params: P) => Array<R>
  readonly get: (...params: P) => R | undefined
  readonly run: (...params: P) => {
    readonly lastInsertRowid: number | bigint
    readonly changes: number | bigint
  }
}

export const query = <P extends ReadonlyArray<SQLInputValue>, R = never>(
  db: DatabaseSync,
  sql: string
): Query<P, R> => {
  const statement: StatementSync = db.prepare(sql)
  // node:sqlite types rows as records of SQL values; the SQL text above each query fixes their shape.
  return {
    all: (...params) => statement.all(...params) as unknown as Array<R>,
    get: (...params) => statement.get(...params) as unknown as R | undefined,
    run: (...params) => statement.run(...params)
  }
}
