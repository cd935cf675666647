/**
 * The list of every Envoy message field and extension ferry-proxy honours, read from the
 * translation allow-lists themselves, and its Markdown rendering (docs/envoy-reference.md,
 * kept equal by envoy-reference.test.ts; regenerate with
 * `node data-plane/dist/config/print-reference.js > docs/envoy-reference.md`).
 */
import { BOOTSTRAP_SPECS } from './bootstrap.js';
import { OVERLOAD_EXTENSIONS } from './translate-overload.js';
import { HTTP_FILTERS } from '../filters/http/registry.js';
import { COMPRESSION_EXTENSIONS } from '../filters/http/common/compression-config.js';
import { LISTENER_FILTERS } from '../filters/listener/registry.js';
import { NETWORK_FILTERS } from '../filters/network/registry.js';
import {
  CONFIG_SOURCE_SPECS,
  ADDRESS_SPEC,
  DATA_SOURCE_SPEC,
  SOCKET_ADDRESS_SPEC,
  type ExtensionSpec,
  type MessageSpec,
} from './translate-common.js';
import { CLUSTER_EXTENSIONS, CLUSTER_SPECS } from './translate-cluster.js';
import { ENDPOINT_SPECS } from './translate-endpoints.js';
import { ACCESS_LOG_EXTENSIONS, ACCESS_LOG_SPECS } from './translate-access-log.js';
import { HCM_SPECS } from './translate-hcm.js';
import { LISTENER_EXTENSIONS, LISTENER_SPECS } from './translate-listener.js';
import { MATCHER_SPECS } from './translate-matchers.js';
import { ROUTE_ACTION_SPECS, PREVIOUS_HOSTS_TYPE_URL } from './translate-route-action.js';
import { ROUTE_SPECS } from './translate-route.js';
import { SECRET_SPECS } from './translate-secret.js';
import { TLS_EXTENSIONS, TLS_SPECS } from './translate-tls.js';
import { TRACING_EXTENSIONS, TRACING_SPECS } from './translate-tracing.js';

export interface EnvoyReference {
  readonly sections: readonly {
    readonly title: string;
    readonly messages: readonly MessageSpec[];
  }[];
  readonly extensions: readonly ExtensionSpec[];
}

export function envoyReference(): EnvoyReference {
  return {
    sections: [
      { title: 'Bootstrap', messages: BOOTSTRAP_SPECS },
      { title: 'Listener', messages: LISTENER_SPECS },
      { title: 'Listener filters', messages: LISTENER_FILTERS.flatMap((f) => f.specs) },
      {
        // The HttpConnectionManager has its own section below.
        title: 'Network filters',
        messages: NETWORK_FILTERS.filter((f) => f.terminal !== 'http').flatMap((f) => f.specs),
      },
      { title: 'HttpConnectionManager', messages: HCM_SPECS },
      // Filters share some message specs (percentages, compression libraries): list each once.
      { title: 'HTTP filters', messages: [...new Set(HTTP_FILTERS.flatMap((f) => f.specs))] },
      { title: 'Access logs', messages: ACCESS_LOG_SPECS },
      { title: 'Tracing', messages: TRACING_SPECS },
      { title: 'RouteConfiguration', messages: ROUTE_SPECS },
      { title: 'Route actions', messages: ROUTE_ACTION_SPECS },
      { title: 'Matchers and headers', messages: MATCHER_SPECS },
      { title: 'Cluster', messages: CLUSTER_SPECS },
      { title: 'ClusterLoadAssignment', messages: ENDPOINT_SPECS },
      { title: 'TLS', messages: TLS_SPECS },
      { title: 'Secret (SDS)', messages: SECRET_SPECS },
      {
        title: 'Common',
        messages: [ADDRESS_SPEC, SOCKET_ADDRESS_SPEC, DATA_SOURCE_SPEC, ...CONFIG_SOURCE_SPECS],
      },
    ],
    extensions: [
      ...LISTENER_EXTENSIONS,
      ...HTTP_FILTERS.map((f) => ({
        where: 'HttpConnectionManager http_filters[]',
        typeUrl: f.typeUrl,
        names: f.names,
        note: f.note,
      })),
      ...COMPRESSION_EXTENSIONS,
      ...ACCESS_LOG_EXTENSIONS,
      ...TRACING_EXTENSIONS,
      ...TLS_EXTENSIONS,
      ...CLUSTER_EXTENSIONS,
      ...OVERLOAD_EXTENSIONS,
      {
        where: 'RetryPolicy retry_host_predicate[]',
        typeUrl: PREVIOUS_HOSTS_TYPE_URL,
        names: ['envoy.retry_host_predicates.previous_hosts'],
        note: 'retries avoid hosts already tried',
      },
    ],
  };
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderEnvoyReference(reference: EnvoyReference = envoyReference()): string {
  const lines: string[] = [
    '# Envoy configuration honoured by ferry-proxy',
    '',
    '<!-- Generated from the translation allow-lists (data-plane/src/config/translate-*.ts).',
    '     Regenerate: node data-plane/dist/config/print-reference.js > docs/envoy-reference.md -->',
    '',
    'ferry-proxy reads Envoy v3 resources. Every field listed here is honoured as noted; any other',
    'field that is set makes the resource fail translation with',
    '`<field path>: not supported by ferry-proxy`, so the proxy rejects that resource (a NACK',
    'naming it) and keeps serving its last accepted version; the other resources of the update are',
    'applied. Fields left at their default are never an error.',
    '',
    '## Extensions',
    '',
    '| Where | Type | Names | Notes |',
    '| --- | --- | --- | --- |',
  ];
  for (const e of reference.extensions) {
    lines.push(
      `| ${cell(e.where)} | \`${e.typeUrl.slice(e.typeUrl.lastIndexOf('/') + 1)}\` | ${e.names.map((n) => `\`${n}\``).join(', ')} | ${cell(e.note)} |`,
    );
  }
  for (const section of reference.sections) {
    lines.push('', `## ${section.title}`);
    for (const spec of section.messages) {
      const context = spec.context ? ` (${spec.context})` : '';
      lines.push('', `### \`${spec.message}\`${context}`, '');
      const fields = Object.entries(spec.fields);
      if (fields.length === 0) {
        lines.push('No fields are supported: the message must be empty.');
        continue;
      }
      lines.push('| Field | Notes |', '| --- | --- |');
      for (const [field, note] of fields) lines.push(`| \`${field}\` | ${cell(note)} |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
