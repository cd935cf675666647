/**
 * `ferryctl replicas`: the control-plane replicas sharing the store, which one leads (runs the
 * singleton duties) and which one answered; then the proxies whose streams the answering
 * replica holds (ask each replica's API for its own proxies).
 */
import type { StatusJson } from '@ferry/shared/api-wire';
import type { ApiClient } from './api-client.js';
import type { ParsedArgs } from './args.js';
import { CtlError, EXIT_USAGE } from './ctl-error.js';
import type { Output } from './output.js';
import { table } from './format.js';

export async function replicas(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const response = await client.get<StatusJson>('/v1/status');
  const set = response.replica_set;
  if (!set)
    throw new CtlError(
      EXIT_USAGE,
      'this server reports no replica set (an embedded control plane without replicas)',
    );
  if (args.options.output === 'json') {
    const proxies = response.nodes.map((n) => ({ node_id: n.node_id, replica: n.replica }));
    io.out(JSON.stringify({ ...set, proxies }, null, 2) + '\n');
    return;
  }
  io.out(
    table(
      ['REPLICA', 'ADDRESS', 'LEADER', 'ANSWERING'],
      set.replicas.map((r) => [r.id, r.address || '-', r.leader ? 'yes' : '', r.self ? 'yes' : '']),
    ),
  );
  io.out(
    set.leader
      ? `leader: ${set.leader}${set.leader_expires_at ? ` (lease until ${set.leader_expires_at})` : ''}\n`
      : 'leader: none seen (the lease is free or the store did not answer)\n',
  );
  io.out(
    response.nodes.length === 0
      ? `no proxies connected to ${set.self}\n`
      : `proxies connected to ${set.self}: ${response.nodes.map((n) => n.node_id).join(', ')}\n`,
  );
}
