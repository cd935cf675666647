/**
 * `ferryctl status NODE`: per resource, what one proxy runs (docs/architecture.md, "Per-resource
 * acceptance"): for each resource of each type, its state (ACKED, NACKED, REQUESTED,
 * DOES_NOT_EXIST), the version running and the version sent, and why it was rejected. And, for
 * `ferryctl status`, the lines that list the resources proxies rejected alone.
 */
import { RESOURCE_TYPES } from '@ferry/proto';
import type { NodeStatusJson, StatusJson } from '@ferry/shared/api-wire';
import type { ApiClient } from './api-client.js';
import { CtlError, EXIT_REJECTED } from './ctl-error.js';
import { shortVersion, table } from './format.js';
import type { Output } from './output.js';

function typeShort(typeUrl: string): string {
  return RESOURCE_TYPES.find((t) => t.typeUrl === typeUrl)?.short ?? typeUrl;
}

/** Prints one node's resources; `json`: the API's answer as it is. */
export async function nodeResourceStatus(
  nodeId: string,
  client: ApiClient,
  io: Output,
  json: boolean,
): Promise<void> {
  const response = await client.get<StatusJson>('/v1/status', { node: nodeId, resources: true });
  const node = response.nodes[0];
  if (!node)
    throw new CtlError(
      EXIT_REJECTED,
      `no proxy ${JSON.stringify(nodeId)} is known to this control plane (ferryctl status lists them)`,
    );
  if (json) {
    io.out(`${JSON.stringify(response, null, 2)}\n`);
    return;
  }
  io.out(
    `node ${node.node_id}  group ${node.group}  connected ${node.connected ? 'yes' : 'no'}  ${node.user_agent}\n`,
  );
  const rows: string[][] = [];
  for (const t of node.types) {
    for (const r of t.resource_statuses ?? [])
      rows.push([
        typeShort(t.type_url),
        r.name,
        r.state,
        r.version_running ? shortVersion(r.version_running) : '-',
        shortVersion(r.version_sent),
        r.nack ? `v=${shortVersion(r.nack.version)}: ${r.nack.error}` : '',
      ]);
  }
  if (rows.length === 0) {
    io.out('no resources sent yet\n');
    return;
  }
  io.out(table(['TYPE', 'NAME', 'STATE', 'RUNNING', 'SENT', 'NACK'], rows));
}

/** The rows of `ferryctl status`'s section on resources rejected alone (empty: none). */
export function rejectedResourceRows(nodes: readonly NodeStatusJson[]): string[][] {
  const rows: string[][] = [];
  for (const n of nodes)
    for (const t of n.types ?? [])
      for (const r of t.rejected_resources ?? [])
        rows.push([
          n.node_id,
          typeShort(t.type_url),
          r.name,
          r.version_running ? shortVersion(r.version_running) : '-',
          r.nack ? `v=${shortVersion(r.nack.version)}: ${r.nack.error}` : '',
        ]);
  return rows;
}
