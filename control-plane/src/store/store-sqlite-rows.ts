/**
 * How the SQLite store's rows map to the ResourceStore types, kept apart from the store's logic.
 * Column names follow store-sqlite-schema.ts.
 */
import type { ChangeEvent, ListFilter, Mutation, StoredResource } from './store.js';

export interface ResourceRow {
  type_url: string;
  grp: string;
  name: string;
  value: Buffer;
  version: string;
  revision: number;
}

export interface ChangeRow {
  revision: number;
  op: 'put' | 'delete';
  type_url: string;
  grp: string;
  name: string;
  value: Buffer | null;
  version: string | null;
  /** The revision's (revisions.traceparent). */
  traceparent: string | null;
}

export interface RevisionRow {
  revision: number;
  time: string;
  message: string;
  actor: string;
  traceparent: string | null;
}

/** Filter columns as bound parameters: NULL matches everything. */
export interface FilterParams {
  typeUrl: string | null;
  group: string | null;
  name: string | null;
}

export const FILTER_SQL =
  '(@typeUrl IS NULL OR type_url = @typeUrl) AND (@group IS NULL OR grp = @group) AND (@name IS NULL OR name = @name)';

export function filterParams(filter: ListFilter | undefined): FilterParams {
  return {
    typeUrl: filter?.typeUrl ?? null,
    group: filter?.group ?? null,
    name: filter?.name ?? null,
  };
}

export function asBytes(buffer: Buffer): Uint8Array {
  // A plain Uint8Array view (no copy), so callers see the same type from every store.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export function storedFromRow(row: ResourceRow): StoredResource {
  return {
    typeUrl: row.type_url,
    group: row.grp,
    name: row.name,
    value: asBytes(row.value),
    version: row.version,
    revision: row.revision,
  };
}

export function eventsFromRows(rows: readonly ChangeRow[]): ChangeEvent[] {
  const events: Array<{ revision: number; changes: Mutation[]; traceparent?: string }> = [];
  for (const row of rows) {
    let event = events[events.length - 1];
    if (event?.revision !== row.revision) {
      event =
        row.traceparent === null
          ? { revision: row.revision, changes: [] }
          : { revision: row.revision, changes: [], traceparent: row.traceparent };
      events.push(event);
    }
    const key = { typeUrl: row.type_url, group: row.grp, name: row.name };
    event.changes.push(
      row.op === 'put'
        ? { op: 'put', ...key, value: asBytes(row.value!), version: row.version! }
        : { op: 'delete', ...key },
    );
  }
  return events;
}
