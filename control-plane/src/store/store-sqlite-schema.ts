/**
 * The SQLite store's schema and its migrations. `PRAGMA user_version` records which migrations a
 * file has had; MIGRATIONS[i] takes a file from version i to i + 1. Append, never edit: files
 * written by released versions must keep opening.
 */
import type { Database } from 'better-sqlite3';
import { FerryError } from '@ferry/shared';

const MIGRATIONS: readonly string[] = [
  // 0 → 1. `resources` is the current state; `revisions` + `changes` are the complete log, from
  // which any past state is rebuilt (listAt, rollback) and watches are replayed. Each revision
  // holds at most one change per key (apply stores net changes), `seq` keeps the batch order.
  `
  CREATE TABLE resources (
    type_url TEXT NOT NULL,
    grp      TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    BLOB NOT NULL,
    version  TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (type_url, grp, name)
  );
  CREATE TABLE revisions (
    revision INTEGER PRIMARY KEY,
    time     TEXT NOT NULL,
    message  TEXT NOT NULL
  );
  CREATE TABLE changes (
    revision INTEGER NOT NULL REFERENCES revisions (revision),
    seq      INTEGER NOT NULL,
    op       TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    type_url TEXT NOT NULL,
    grp      TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    BLOB,
    version  TEXT,
    PRIMARY KEY (revision, seq),
    CHECK ((op = 'put') = (value IS NOT NULL AND version IS NOT NULL))
  );
  CREATE INDEX changes_by_key ON changes (type_url, grp, name, revision);
  `,
  // 1 → 2. Who made each revision (an API token's name or a client certificate's identity);
  // revisions written before this migration have ''.
  `
  ALTER TABLE revisions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
  `,
  // 2 → 3. Named leases (ResourceStore.acquireLease): who holds each and until when (epoch ms).
  // Not part of the revision log: taking or renewing a lease changes no resource.
  `
  CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  `,
  // 3 → 4. Leased records (ResourceStore.putLeased): small values owned by a holder that expire
  // with it (epoch ms). Like leases, not part of the revision log.
  `
  CREATE TABLE leased (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    holder     TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
  );
  CREATE INDEX leased_by_holder ON leased (holder);
  `,
  // 4 → 5. Trimming the log (ResourceStore.trimHistory): `log_base` holds the base revision (the
  // revisions up to it were trimmed from `revisions` and `changes`) and `base` the state at it,
  // from which listAt and watch resets start.
  `
  CREATE TABLE base (
    type_url TEXT NOT NULL,
    grp      TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    BLOB NOT NULL,
    version  TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (type_url, grp, name)
  );
  CREATE TABLE log_base (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
  );
  INSERT INTO log_base (id, revision) VALUES (1, 0);
  `,
  // 5 → 6. The W3C trace context (a `traceparent` value) of the write that made each revision,
  // so every replica's publish joins that write's trace; NULL when it was not traced (and for
  // revisions written before this migration).
  `
  ALTER TABLE revisions ADD COLUMN traceparent TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `db` to SCHEMA_VERSION. Runs under BEGIN IMMEDIATE and re-reads the version inside, so
 * two processes opening a new file at once migrate it once. Refuses a file from a newer Ferry
 * rather than guessing at a schema it does not know.
 */
export function migrate(db: Database, file: string): void {
  const run = db.transaction(() => {
    const found = db.pragma('user_version', { simple: true }) as number;
    if (found > SCHEMA_VERSION) {
      throw new FerryError(
        'FERRY_STORE_UNAVAILABLE',
        `${file} has store schema version ${found}, newer than this Ferry understands (${SCHEMA_VERSION}); upgrade Ferry or point it at another file`,
      );
    }
    for (let version = found; version < SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version]!);
    // user_version lives in the file header and is part of this transaction.
    if (found < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  run.immediate();
}
