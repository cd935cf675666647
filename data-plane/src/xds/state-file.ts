/**
 * The last good xDS resources on disk (static stability, docs/architecture.md, "Runtime
 * model"): written after every
 * accepted config, read at start when the control plane cannot be reached. Writes are atomic
 * (temp file + rename in the same directory) and serialised, so a crash leaves either the old
 * or the new file, never a torn one, and a slow write never reorders with a newer one.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AcceptedResource, JsonObject, ResourceSet } from './resource-set.js';

const FORMAT = 1;
export const STATE_FILE_NAME = 'last-good-config.json';

interface FileShape {
  format: number;
  node_id: string;
  saved_at: string;
  types: Record<
    string,
    {
      version: string;
      resources: { name: string; version: string; last_updated: string; resource: JsonObject }[];
    }
  >;
}

export function serialiseResourceSet(set: ResourceSet, nodeId: string, savedAt: string): string {
  const file: FileShape = { format: FORMAT, node_id: nodeId, saved_at: savedAt, types: {} };
  for (const [typeUrl, t] of set) {
    file.types[typeUrl] = {
      version: t.version,
      resources: [...t.resources.values()].map((r) => ({
        name: r.name,
        version: r.version,
        last_updated: r.lastUpdated,
        resource: r.json,
      })),
    };
  }
  return JSON.stringify(file);
}

/** Parses a state file; undefined (with the reason) when it is absent or unusable. */
export function parseResourceSet(
  text: string,
): { ok: true; set: ResourceSet; savedAt: string } | { ok: false; reason: string } {
  let file: FileShape;
  try {
    file = JSON.parse(text) as FileShape;
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (file?.format !== FORMAT || typeof file.types !== 'object' || file.types === null)
    return { ok: false, reason: `unknown format ${String(file?.format)}` };
  const set = new Map<string, { version: string; resources: Map<string, AcceptedResource> }>();
  for (const [typeUrl, t] of Object.entries(file.types)) {
    const resources = new Map<string, AcceptedResource>();
    for (const r of t.resources ?? []) {
      resources.set(r.name, {
        name: r.name,
        json: r.resource,
        version: r.version,
        lastUpdated: r.last_updated,
      });
    }
    set.set(typeUrl, { version: String(t.version ?? ''), resources });
  }
  return { ok: true, set, savedAt: String(file.saved_at ?? '') };
}

export class StateFile {
  readonly path: string;
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly nodeId: string,
  ) {
    this.path = path.join(dir, STATE_FILE_NAME);
  }

  load(): ReturnType<typeof parseResourceSet> {
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      return { ok: false, reason: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
    return parseResourceSet(text);
  }

  /** Queues an atomic write; the returned promise settles when this write is done. */
  save(set: ResourceSet): Promise<void> {
    const text = serialiseResourceSet(set, this.nodeId, new Date().toISOString());
    const next = this.chain.then(() => this.write(text));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every queued write is done. */
  flush(): Promise<void> {
    return this.chain;
  }

  private async write(text: string): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    this.seq += 1;
    const temp = `${this.path}.${process.pid}.${this.seq}.tmp`;
    try {
      const handle = await fs.promises.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temp, this.path);
    } catch (err) {
      await fs.promises.rm(temp, { force: true });
      throw err;
    }
  }
}
