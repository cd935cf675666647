/**
 * `ferryctl replicas`: the control-plane replicas sharing the store, which one leads (runs the
 * singleton duties) and which one answered; then the proxies of each replica (the answering
 * replica asks the others, docs/architecture.md "Fleet status across replicas").
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
    const proxies = response.nodes
      .filter((n) => n.connected)
      .map((n) => ({ node_id: n.node_id, replica: n.replica }));
    const unanswered = response.unanswered_replicas ?? [];
    io.out(JSON.stringify({ ...set, proxies, unanswered_replicas: unanswered }, null, 2) + '\n');
    return;
  }
  io.out(
    table(
      ['REPLICA', 'ADDRESS', 'API', 'LEADER', 'ANSWERING'],
      set.replicas.map((r) => [
        r.id,
        r.address || '-',
        r.api_url || '-',
        r.leader ? 'yes' : '',
        r.self ? 'yes' : '',
      ]),
    ),
  );
  io.out(
    set.leader
      ? `leader: ${set.leader}${set.leader_expires_at ? ` (lease until ${set.leader_expires_at})` : ''}\n`
      : 'leader: none seen (the lease is free or the store did not answer)\n',
  );
  const byReplica = new Map<string, string[]>();
  for (const n of response.nodes) {
    if (!n.connected) continue;
    const replica = n.replica ?? set.self;
    byReplica.set(replica, [...(byReplica.get(replica) ?? []), n.node_id]);
  }
  for (const r of set.replicas)
    io.out(
      byReplica.has(r.id)
        ? `proxies connected to ${r.id}: ${byReplica.get(r.id)!.join(', ')}\n`
        : `no proxies connected to ${r.id}\n`,
    );
  for (const u of response.unanswered_replicas ?? [])
    io.out(`replica ${u.replica} did not answer, its proxies are not listed: ${u.error}\n`);
}
