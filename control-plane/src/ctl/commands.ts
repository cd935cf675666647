/**
 * ferryctl's commands. Each takes the parsed arguments and an output sink, talks to the HTTP
 * management API, and returns normally (exit 0) or throws a CtlError with its exit code.
 */
import {
  parseResourceJson,
  resourceTypeByAlias,
  RESOURCE_TYPES,
  toYaml,
  type JsonValue,
  type ResourceType,
} from '@ferry/proto';
import { redactKeyMaterial } from '../api/redact.js';
import type {
  ApplyRequestJson,
  ApplyResponseJson,
  DeleteRequestJson,
  HealthJson,
  HistoryJson,
  ListResponseJson,
  LoadCountsJson,
  LoadJson,
  ResourceChangeJson,
  ResourceJson,
  RollbackRequestJson,
  StatusJson,
  WafStatusJson,
} from '@ferry/shared/api-wire';
import { ApiClient } from './api-client.js';
import { certs } from './certs-command.js';
import type { ParsedArgs } from './args.js';
import { CtlError, EXIT_REJECTED, EXIT_USAGE } from './ctl-error.js';
import { formatPreflight } from './preflight-format.js';
import { nackCell, shortVersion, table, unifiedDiff } from './format.js';
import { annotateSources, readDocuments, type SourcedDocument } from './input.js';
import { token, whoami } from './commands-token.js';
import { replicas } from './commands-replicas.js';
import { nodeResourceStatus, rejectedResourceRows } from './status-resources.js';
import { applyRollout, rollout, wantsRollout } from './commands-rollout.js';
import type { Output } from './output.js';

export type { Output } from './output.js';

type Command = (args: ParsedArgs, client: ApiClient, io: Output) => Promise<void>;

function resolveType(word: string | undefined): ResourceType {
  if (!word)
    throw new CtlError(
      EXIT_USAGE,
      'TYPE is required (listeners, routes, clusters, endpoints, secrets)',
    );
  const type = resourceTypeByAlias(word);
  if (!type) {
    const known = RESOURCE_TYPES.map(
      (t) => `${t.aliases[2] ?? t.kind} (${t.short.toLowerCase()})`,
    ).join(', ');
    throw new CtlError(
      EXIT_USAGE,
      `unknown resource type ${JSON.stringify(word)}; one of: ${known}`,
    );
  }
  return type;
}

function printJson(io: Output, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}

function kindOf(typeUrl: string): string {
  return RESOURCE_TYPES.find((t) => t.typeUrl === typeUrl)?.kind ?? typeUrl;
}

/**
 * `cluster/web  created` lines, the revision, then the pre-flight report. A dry run whose
 * pre-flight would refuse the write (and no --force) exits 1 after printing, as the write would.
 */
function printChanges(io: Output, args: ParsedArgs, response: ApplyResponseJson): void {
  printWriteResult(io, args, response);
  if (response.dry_run && !args.options.force && response.preflight?.some((p) => p.refuse))
    throw new CtlError(
      EXIT_REJECTED,
      'dry run: the pre-flight would refuse this write (every pre-checked proxy would reject a resource); fix it, or write with --force',
    );
}

function printWriteResult(io: Output, args: ParsedArgs, response: ApplyResponseJson): void {
  if (args.options.output === 'json') return printJson(io, response);
  if (args.options.output === 'yaml') {
    io.out(toYaml(response));
    return;
  }
  const rows = response.changes.map((c) => [
    `${c.kind.toLowerCase()}/${c.name}`,
    c.group,
    c.action,
  ]);
  if (rows.length > 0) io.out(table(['RESOURCE', 'GROUP', 'ACTION'], rows));
  else io.out('no changes\n');
  io.out(
    response.dry_run
      ? `dry run: validated against revision ${response.revision}; nothing written\n`
      : `revision ${response.revision}\n`,
  );
  for (const report of response.preflight ?? []) io.out(formatPreflight(report));
}

async function applyDocuments(
  args: ParsedArgs,
  client: ApiClient,
  documents: SourcedDocument[],
  dryRun: boolean,
): Promise<ApplyResponseJson> {
  try {
    return await client.post<ApplyRequestJson, ApplyResponseJson>('/v1/apply', {
      group: args.options.group,
      resources: documents.map((d) => d.doc),
      dry_run: dryRun,
      force: args.options.force,
      message: args.options.message ?? `ferryctl apply -f ${args.options.files.join(' -f ')}`,
    });
  } catch (err) {
    if (err instanceof CtlError)
      throw new CtlError(err.exitCode, err.message, annotateSources(err.details, documents));
    throw err;
  }
}

const apply: Command = async (args, client, io) => {
  if (wantsRollout(args) && !args.options.dryRun) return applyRollout(args, client, io);
  const documents = await readDocuments(args.options.files);
  printChanges(io, args, await applyDocuments(args, client, documents, args.options.dryRun));
};

const get: Command = async (args, client, io) => {
  const type = resolveType(args.positional[0]);
  const name = args.positional[1];
  const response = await client.get<ListResponseJson>('/v1/resources', {
    type: type.typeUrl,
    name,
    group: args.options.group,
    show_secrets: args.options.showSecrets,
  });
  const resources = response.resources;
  if (name !== undefined && resources.length === 0) {
    throw new CtlError(
      1,
      `FERRY_NOT_FOUND: ${type.kind} "${name}" does not exist${args.options.group ? ` in group "${args.options.group}"` : ''}`,
    );
  }
  if (args.options.output === 'json') return printJson(io, response);
  if (args.options.output === 'yaml') {
    io.out(resources.map((r) => toYaml(r.resource)).join('---\n'));
    return;
  }
  if (resources.length === 0) {
    io.out(
      `no ${type.kind} resources${args.options.group ? ` in group "${args.options.group}"` : ''}\n`,
    );
    return;
  }
  io.out(
    table(
      ['KIND', 'NAME', 'GROUP', 'VERSION', 'REVISION'],
      resources.map((r) => [r.kind, r.name, r.group, shortVersion(r.version), String(r.revision)]),
    ),
  );
};

const del: Command = async (args, client, io) => {
  const type = resolveType(args.positional[0]);
  const names = args.positional.slice(1);
  if (names.length === 0) throw new CtlError(EXIT_USAGE, 'delete needs TYPE NAME [NAME...]');
  const response = await client.post<DeleteRequestJson, ApplyResponseJson>('/v1/delete', {
    group: args.options.group,
    resources: names.map((name) => ({ type: type.typeUrl, name })),
    dry_run: args.options.dryRun,
    force: args.options.force,
    message:
      args.options.message ?? `ferryctl delete ${type.kind.toLowerCase()} ${names.join(' ')}`,
  });
  printChanges(io, args, response);
};

/** What `apply` would change, as a line diff of each changed resource's YAML. */
const diff: Command = async (args, client, io) => {
  const documents = await readDocuments(args.options.files);
  const response = await applyDocuments(args, client, documents, true);
  const changed = response.changes.filter((c) => c.action !== 'unchanged');
  if (args.options.output === 'json') return printJson(io, response);
  if (changed.length === 0) {
    io.out('no changes\n');
    return;
  }
  const show = (doc: JsonValue): string =>
    toYaml(args.options.showSecrets ? doc : redactKeyMaterial(doc).value);
  for (const change of changed) {
    const entry = documents.find((d) => {
      const parsed = parseResourceJson(d.doc);
      return (
        parsed.ok &&
        parsed.value.type.typeUrl === change.type_url &&
        parsed.value.name === change.name
      );
    });
    const parsed = entry ? parseResourceJson(entry.doc) : undefined;
    const next = parsed?.ok ? show({ '@type': change.type_url, ...parsed.value.json }) : '';
    let current = '';
    if (change.action === 'updated') {
      const path = `/v1/resources/${encodeURIComponent(change.type_url)}/${encodeURIComponent(change.name)}`;
      const existing = await client.get<ResourceJson>(path, {
        group: change.group,
        show_secrets: args.options.showSecrets,
      });
      current = toYaml(existing.resource);
    }
    const label = `${kindOf(change.type_url).toLowerCase()}/${change.name} (group ${change.group})`;
    io.out(`# ${label}: ${change.action}\n`);
    io.out(
      unifiedDiff(
        current,
        next,
        change.action === 'created' ? '/dev/null' : `${label} current`,
        `${label} applied`,
      ),
    );
  }
};

const status: Command = async (args, client, io) => {
  // `status NODE`: that proxy's resources one by one.
  const nodeId = args.positional[0];
  if (nodeId !== undefined)
    return nodeResourceStatus(nodeId, client, io, args.options.output === 'json');
  const response = await client.get<StatusJson>('/v1/status');
  // Each proxy's health view (HDS reports) belongs to its status, as the operator sees the fleet.
  // An API server without the health view (embedded without HDS) answers FERRY_NOT_FOUND.
  const health = await client.get<HealthJson>('/v1/health').catch((err: unknown) => {
    if (err instanceof CtlError && err.message.startsWith('FERRY_NOT_FOUND'))
      return { clusters: [], nodes: [] } satisfies HealthJson;
    throw err;
  });
  if (args.options.output === 'json') return printJson(io, { ...response, health });
  io.out(`revision ${response.revision}\n`);
  const set = response.replica_set;
  // Every live replica's proxies, each with the replica holding its streams.
  if (set) io.out(`replica ${set.self} (leader: ${set.leader ?? 'none seen'})\n`);
  for (const u of response.unanswered_replicas ?? [])
    io.out(`replica ${u.replica} did not answer, its proxies are not listed: ${u.error}\n`);
  const nodes = response.nodes;
  if (nodes.length === 0) {
    io.out('no proxies connected\n');
    return;
  }
  const rows: string[][] = [];
  const rolloutRows: string[][] = [];
  for (const n of nodes) {
    const base = [
      n.node_id,
      n.group,
      n.replica ?? '-',
      n.connected ? 'yes' : 'no',
      (n.streams ?? []).join(','),
    ];
    if (n.rollout !== undefined) rolloutRows.push([n.node_id, n.group, n.rollout]);
    if ((n.types ?? []).length === 0) rows.push([...base, '-', '-', '-', '']);
    for (const t of n.types ?? []) {
      const nack = nackCell(t.last_nack);
      rows.push([
        ...base,
        typeShort(t.type_url),
        shortVersion(t.version_sent),
        shortVersion(t.version_acked),
        nack,
      ]);
    }
  }
  io.out(
    table(
      ['NODE', 'GROUP', 'REPLICA', 'CONNECTED', 'STREAMS', 'TYPE', 'SENT', 'ACKED', 'LAST NACK'],
      rows,
    ),
  );
  const rejected = rejectedResourceRows(nodes);
  if (rejected.length > 0) {
    io.out('\nresources rejected alone (the rest of their update runs; ferryctl status NODE):\n');
    io.out(table(['NODE', 'TYPE', 'NAME', 'RUNNING', 'NACK'], rejected));
  }
  if (rolloutRows.length > 0) io.out(`\n${table(['NODE', 'GROUP', 'ROLLOUT'], rolloutRows)}`);
  const healthRows: string[][] = [];
  for (const n of health.nodes) {
    for (const c of n.clusters) {
      const endpoints = c.endpoints;
      const down = endpoints.filter((e) => e.status === 'UNHEALTHY').map((e) => e.address);
      healthRows.push([
        n.node_id,
        c.cluster,
        `${endpoints.length - down.length}/${endpoints.length}`,
        down.length > 0 ? down.join(',') : '-',
        n.reported_at,
      ]);
    }
  }
  if (healthRows.length > 0) {
    io.out('\nhealth as each proxy sees it (HDS reports; the aggregate: ferryctl health):\n');
    io.out(table(['NODE', 'CLUSTER', 'HEALTHY', 'UNHEALTHY ENDPOINTS', 'REPORTED'], healthRows));
  }
};

/**
 * Which proxies run the WAF: per node, listener and WAF filter, the mode, the rule set (hash of
 * the directives; `+crs` when they include the proxy host's CRS), and the routes overriding it.
 */
const waf: Command = async (args, client, io) => {
  const response = await client.get<WafStatusJson>('/v1/waf', { group: args.options.group });
  if (args.options.output === 'json') return printJson(io, response);
  if (response.filters.length === 0) {
    io.out('no proxy runs ferry.filters.http.waf\n');
    return;
  }
  const rows = response.filters.map((f) => [
    f.node_id,
    f.group,
    f.listener,
    [f.mode, ...new Set(f.routes_overriding.flatMap((r) => (r.mode ? [r.mode] : [])))].join(
      ', routes: ',
    ),
    f.crs ? `${f.rule_set}+crs` : f.rule_set,
    f.routes_overriding.length === 0
      ? '-'
      : f.routes_overriding
          .map(
            (r) =>
              `${r.route_config}:${r.path || '(all)'}=${
                r.disabled ? 'disabled' : [r.mode, r.rule_set].filter((x) => x).join('/')
              }`,
          )
          .join(' '),
  ]);
  io.out(table(['NODE', 'GROUP', 'LISTENER', 'MODE', 'RULESET', 'ROUTES-OVERRIDING'], rows));
};

/**
 * The fleet's health view from HDS reports: per group, cluster and endpoint, how many proxies
 * see it healthy / unhealthy and since when; then each proxy's own view.
 */
const health: Command = async (args, client, io) => {
  const response = await client.get<HealthJson>('/v1/health', { group: args.options.group });
  if (args.options.output === 'json') return printJson(io, response);
  const clusters = response.clusters;
  if (clusters.length === 0) {
    io.out('no health reports (no proxy reports endpoints with active health checks)\n');
    return;
  }
  const rows: string[][] = [];
  for (const c of clusters) {
    for (const e of c.endpoints) {
      rows.push([
        c.group,
        c.cluster,
        e.address,
        e.status,
        `${e.healthy}/${e.proxies}`,
        `${e.unhealthy}/${e.proxies}`,
        e.eds_unhealthy_by_quorum === undefined
          ? '-'
          : e.eds_unhealthy_by_quorum
            ? 'UNHEALTHY (quorum)'
            : 'as configured',
        e.since,
      ]);
    }
  }
  io.out(
    table(['GROUP', 'CLUSTER', 'ENDPOINT', 'STATUS', 'HEALTHY', 'UNHEALTHY', 'EDS', 'SINCE'], rows),
  );
  const nodeRows: string[][] = [];
  for (const n of response.nodes) {
    for (const c of n.clusters) {
      for (const e of c.endpoints)
        nodeRows.push([n.node_id, n.group, c.cluster, e.address, e.status, n.reported_at]);
    }
  }
  if (nodeRows.length > 0) {
    io.out('\n');
    io.out(table(['NODE', 'GROUP', 'CLUSTER', 'ENDPOINT', 'STATUS', 'REPORTED'], nodeRows));
  }
};

/**
 * The fleet's load from LRS reports: totals per group and cluster, then each proxy's last interval
 * per locality.
 */
const load: Command = async (args, client, io) => {
  const response = await client.get<LoadJson>('/v1/load', {
    group: args.options.group,
    cluster: args.options.cluster,
  });
  if (args.options.output === 'json') return printJson(io, response);
  const clusters = response.clusters;
  if (clusters.length === 0) {
    io.out('no load reports (no proxy reports load: set lrs_server on the clusters)\n');
    return;
  }
  const counts = (c: LoadCountsJson): string[] => [
    String(c.total_successful_requests),
    String(c.total_error_requests),
    String(c.total_issued_requests),
    String(c.total_requests_in_progress),
    String(c.total_dropped_requests),
  ];
  const head = ['SUCCESS', 'ERRORS', 'ISSUED', 'IN PROGRESS', 'DROPPED'];
  io.out(
    table(
      ['GROUP', 'CLUSTER', 'PROXIES', ...head],
      clusters.map((c) => [c.group, c.cluster, String(c.nodes.length), ...counts(c.total)]),
    ),
  );
  const rows: string[][] = [];
  for (const c of clusters) {
    for (const n of c.nodes) {
      for (const l of n.localities) {
        const where = [l.locality.region, l.locality.zone, l.locality.sub_zone].filter(Boolean);
        rows.push([n.node, c.cluster, where.join('/') || '-', ...counts(l.latest), n.reported_at]);
      }
    }
  }
  if (rows.length > 0) {
    io.out('\nlast interval per proxy and locality:\n');
    io.out(table(['NODE', 'CLUSTER', 'LOCALITY', ...head, 'REPORTED'], rows));
  }
};

function typeShort(typeUrl: string): string {
  return RESOURCE_TYPES.find((t) => t.typeUrl === typeUrl)?.short ?? typeUrl;
}

const history: Command = async (args, client, io) => {
  const response = await client.get<HistoryJson>('/v1/history', { limit: args.options.limit });
  if (args.options.output === 'json') return printJson(io, response);
  const entries = response.entries;
  const base = response.history_base;
  const trimmedNote =
    base > 0
      ? `revisions up to ${base} were trimmed (the control plane's --history-retain); rollback reaches back to ${base}\n`
      : '';
  if (entries.length === 0) {
    io.out(`no revisions ${base > 0 ? 'kept' : 'yet'}\n${trimmedNote}`);
    return;
  }
  // The TRACE column only where the control plane traces writes.
  const traced = entries.some((e) => e.trace_id !== undefined);
  io.out(
    table(
      ['REVISION', 'TIME', 'ACTOR', 'CHANGES', ...(traced ? ['TRACE'] : []), 'MESSAGE'],
      entries.map((e) => [
        String(e.revision),
        e.time,
        e.actor || '-',
        summarize(e.changes),
        ...(traced ? [e.trace_id ?? '-'] : []),
        e.message,
      ]),
    ),
  );
  // Only when the list reaches back to the trim point (else --limit cut it first).
  if (entries[entries.length - 1]!.revision === base + 1) io.out(trimmedNote);
};

function summarize(changes: readonly ResourceChangeJson[]): string {
  const puts = changes.filter((c) => c.action === 'put').length;
  const deletes = changes.length - puts;
  return (
    [puts ? `${puts} put` : '', deletes ? `${deletes} deleted` : ''].filter(Boolean).join(', ') ||
    '-'
  );
}

const rollback: Command = async (args, client, io) => {
  const word = args.positional[0];
  const revision = Number(word);
  if (word === undefined || !/^\d+$/.test(word))
    throw new CtlError(EXIT_USAGE, 'rollback needs a revision number (see ferryctl history)');
  const response = await client.post<RollbackRequestJson, ApplyResponseJson>('/v1/rollback', {
    revision,
    group: args.options.group,
    dry_run: args.options.dryRun,
    force: args.options.force,
    message: args.options.message,
  });
  printChanges(io, args, response);
};

export const COMMANDS: Record<string, Command> = {
  apply,
  get,
  delete: del,
  diff,
  status,
  health,
  waf,
  load,
  history,
  rollback,
  token,
  whoami,
  certs,
  replicas,
  rollout,
};
