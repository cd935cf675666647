/**
 * The node identity a worker puts on its exported spans (service.instance.id = node id, default
 * service.name = node cluster). Workers re-run the entry point with the primary's command line,
 * so they read it the same way the primary does: --node-id / --node-cluster, else the bootstrap's
 * `node`. Called once at worker start (a sync read of the bootstrap is fine there).
 */
import fs from 'node:fs';
import { parseDocuments } from '@ferry/proto';
import type { TracingNode } from './tracing-manager.js';

export function nodeIdentity(options: {
  readonly configPath: string;
  readonly nodeId?: string;
  readonly nodeCluster?: string;
}): TracingNode {
  let id = options.nodeId;
  let cluster = options.nodeCluster;
  if (id === undefined || cluster === undefined) {
    try {
      const docs = parseDocuments(fs.readFileSync(options.configPath, 'utf8'), options.configPath);
      const doc = docs.ok ? (docs.value[0] as { node?: { id?: unknown; cluster?: unknown } }) : {};
      if (id === undefined && typeof doc.node?.id === 'string') id = doc.node.id;
      if (cluster === undefined && typeof doc.node?.cluster === 'string')
        cluster = doc.node.cluster;
    } catch {
      // The primary validated the bootstrap before forking; a vanished file only loses the label.
    }
  }
  return { id: id ?? '', cluster: cluster ?? '' };
}
