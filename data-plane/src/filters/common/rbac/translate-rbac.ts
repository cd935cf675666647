/**
 * Translation of `envoy.config.rbac.v3.RBAC` (shared by envoy.filters.http.rbac and
 * envoy.filters.network.rbac) into RbacModel. What ferry-proxy evaluates is listed in the specs;
 * every other field (CEL conditions, metadata and filter-state matchers, the matcher-based
 * `matcher`, uri_template, audit logging, ...) is a NACK with its field path.
 */
import {
  asObject,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../../../config/translate-common.js';
import { CIDR_RANGE_SPEC } from '../../../config/translate-filter-chain-match.js';
import { headerMatcher, stringMatcher } from '../../../config/translate-matchers.js';
import { parseCidr } from '../../../listener/cidr.js';
import type {
  CidrModel,
  PermissionModel,
  PolicyModel,
  PrincipalModel,
  RbacAction,
  RbacModel,
} from './rbac-model.js';

const RBAC_SPEC = messageSpec('envoy.config.rbac.v3.RBAC', {
  action: 'ALLOW (default), DENY or LOG',
  policies: 'map of Policy, evaluated in name order; the first match is the effective policy',
});

const POLICY_SPEC = messageSpec('envoy.config.rbac.v3.Policy', {
  permissions: 'any permission matches',
  principals: 'and any principal matches',
});

const PERMISSION_SPEC = messageSpec('envoy.config.rbac.v3.Permission', {
  and_rules: 'every rule matches',
  or_rules: 'any rule matches',
  any: 'always matches',
  not_rule: 'negation',
  header:
    'HeaderMatcher on the request headers (":method", ":path", ":authority" included); at network level the headers are empty, as in Envoy',
  url_path: 'PathMatcher on the path without query and fragment; never matches at network level',
  destination_ip: 'CidrRange on the local address of the connection',
  destination_port: 'local port of the connection',
  destination_port_range: 'local port in [start, end)',
  requested_server_name: 'StringMatcher on the SNI ("" without)',
});

const PERMISSION_SET_SPEC = messageSpec('envoy.config.rbac.v3.Permission.Set', {
  rules: 'permissions',
});

const PRINCIPAL_SPEC = messageSpec('envoy.config.rbac.v3.Principal', {
  and_ids: 'every principal matches',
  or_ids: 'any principal matches',
  any: 'always matches',
  not_id: 'negation',
  authenticated:
    'TLS connection; with principal_name, the client certificate’s URI SANs, then DNS SANs, then subject (RFC 2253)',
  source_ip: 'deprecated: same as direct_remote_ip',
  direct_remote_ip: 'CidrRange on the peer address of the socket',
  remote_ip:
    'CidrRange on the trusted client address after X-Forwarded-For (use_remote_address, xff_num_trusted_hops); the peer address at network level',
  header: 'HeaderMatcher on the request headers (empty at network level, as in Envoy)',
  url_path: 'PathMatcher on the path without query and fragment; never matches at network level',
});

const PRINCIPAL_SET_SPEC = messageSpec('envoy.config.rbac.v3.Principal.Set', {
  ids: 'principals',
});

const AUTHENTICATED_SPEC = messageSpec('envoy.config.rbac.v3.Principal.Authenticated', {
  principal_name: 'StringMatcher; absent: any TLS connection',
});

const PATH_MATCHER_SPEC = messageSpec('envoy.type.matcher.v3.PathMatcher', {
  path: 'StringMatcher',
});

const INT32_RANGE_SPEC = messageSpec('envoy.type.v3.Int32Range', {
  start: 'inclusive',
  end: 'exclusive',
});

/** The message specs of the RBAC rules, for the reference document. */
export const RBAC_RULES_SPECS: readonly MessageSpec[] = [
  RBAC_SPEC,
  POLICY_SPEC,
  PERMISSION_SPEC,
  PERMISSION_SET_SPEC,
  PRINCIPAL_SPEC,
  PRINCIPAL_SET_SPEC,
  AUTHENTICATED_SPEC,
  PATH_MATCHER_SPEC,
  INT32_RANGE_SPEC,
  CIDR_RANGE_SPEC,
];

const RBAC_REASONS = {
  audit_logging_options: 'RBAC audit loggers are not supported by ferry-proxy',
};

const POLICY_REASONS = {
  condition: 'CEL conditions are not supported by ferry-proxy',
  checked_condition: 'CEL conditions are not supported by ferry-proxy',
};

const METADATA_REASON = 'metadata matchers are not supported by ferry-proxy';

const PERMISSION_REASONS = {
  metadata: METADATA_REASON,
  sourced_metadata: METADATA_REASON,
  matcher: 'extension permission matchers are not supported by ferry-proxy',
  uri_template: 'URI template matching is not supported by ferry-proxy',
};

const PRINCIPAL_REASONS = {
  metadata: METADATA_REASON,
  sourced_metadata: METADATA_REASON,
  filter_state: 'filter state matchers are not supported by ferry-proxy',
  custom: 'extension principal matchers are not supported by ferry-proxy',
};

const ACTIONS: readonly RbacAction[] = ['ALLOW', 'DENY', 'LOG'];

/** Translates an `envoy.config.rbac.v3.RBAC`; errors go to `issues` under `path`. */
export function translateRbac(obj: JsonObject, path: string, issues: Issues): RbacModel {
  checkFields(obj, RBAC_SPEC, path, issues, RBAC_REASONS);
  const action = enumField(obj.action, ACTIONS, 'ALLOW', join(path, 'action'), issues);
  const map = asObject(obj.policies) ?? {};
  const policies: PolicyModel[] = Object.keys(map)
    // Envoy keeps policies in an ordered map: byte order of the names.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => policy(name, asObject(map[name]) ?? {}, policyPath(path, name), issues));
  return { action, policies };
}

function policyPath(path: string, name: string): string {
  return `${join(path, 'policies')}[${JSON.stringify(name)}]`;
}

function policy(name: string, obj: JsonObject, path: string, issues: Issues): PolicyModel {
  checkFields(obj, POLICY_SPEC, path, issues, POLICY_REASONS);
  const permissions = objectsOf(obj, 'permissions', path).map(([p, pPath]) =>
    permission(p, pPath, issues),
  );
  const principals = objectsOf(obj, 'principals', path).map(([p, pPath]) =>
    principal(p, pPath, issues),
  );
  if (permissions.length === 0) issues.add(join(path, 'permissions'), 'at least one is required');
  if (principals.length === 0) issues.add(join(path, 'principals'), 'at least one is required');
  return { name, permissions, principals };
}

function cidr(obj: JsonObject, path: string, issues: Issues): CidrModel {
  checkFields(obj, CIDR_RANGE_SPEC, path, issues);
  const address = str(obj.address_prefix);
  const prefixLen = int(obj.prefix_len, 0);
  const parsed = parseCidr(address, rangePrefixLen(address, prefixLen));
  if (typeof parsed === 'string') issues.add(path, parsed);
  return { address, prefixLen };
}

/**
 * The prefix length a range is compiled with. IPv4 clients of dual-stack listeners are IPv4
 * addresses (as in Envoy), so an IPv4-mapped range `::ffff:a.b.c.d/N` (N >= 96) is the IPv4
 * range `a.b.c.d/(N-96)`.
 */
export function rangePrefixLen(address: string, prefixLen: number): number {
  const mapped = address.toLowerCase().startsWith('::ffff:') && address.includes('.');
  return mapped && prefixLen >= 96 ? prefixLen - 96 : prefixLen;
}

function pathMatcher(obj: JsonObject | undefined, path: string, issues: Issues) {
  const matcher = obj ?? {};
  checkFields(matcher, PATH_MATCHER_SPEC, path, issues);
  const inner = asObject(matcher.path);
  if (!inner) {
    issues.add(join(path, 'path'), 'required');
    return { kind: 'exact', value: '', ignoreCase: false } as const;
  }
  return stringMatcher(inner, join(path, 'path'), issues);
}

function permissionSet(obj: JsonObject, path: string, issues: Issues): PermissionModel[] {
  checkFields(obj, PERMISSION_SET_SPEC, path, issues);
  const rules = objectsOf(obj, 'rules', path).map(([r, rPath]) => permission(r, rPath, issues));
  if (rules.length === 0) issues.add(join(path, 'rules'), 'at least one is required');
  return rules;
}

function permission(obj: JsonObject, path: string, issues: Issues): PermissionModel {
  checkFields(obj, PERMISSION_SPEC, path, issues, PERMISSION_REASONS);
  const and = asObject(obj.and_rules);
  if (and) return { kind: 'and', rules: permissionSet(and, join(path, 'and_rules'), issues) };
  const or = asObject(obj.or_rules);
  if (or) return { kind: 'or', rules: permissionSet(or, join(path, 'or_rules'), issues) };
  if (obj.any === true) return { kind: 'any' };
  const not = asObject(obj.not_rule);
  if (not) return { kind: 'not', rule: permission(not, join(path, 'not_rule'), issues) };
  const header = asObject(obj.header);
  if (header)
    return { kind: 'header', header: headerMatcher(header, join(path, 'header'), issues) };
  if (obj.url_path !== undefined)
    return {
      kind: 'url_path',
      path: pathMatcher(asObject(obj.url_path), join(path, 'url_path'), issues),
    };
  const ip = asObject(obj.destination_ip);
  if (ip) return { kind: 'destination_ip', cidr: cidr(ip, join(path, 'destination_ip'), issues) };
  if (obj.destination_port !== undefined)
    return { kind: 'destination_port', port: int(obj.destination_port, 0) };
  const range = asObject(obj.destination_port_range);
  if (range) {
    const rangePath = join(path, 'destination_port_range');
    checkFields(range, INT32_RANGE_SPEC, rangePath, issues);
    const start = int(range.start, 0);
    const end = int(range.end, 0);
    // Envoy's PortRangeMatcher refuses these ranges at config load.
    if (start < 0 || start > 65536 || end < 0 || end > 65536)
      issues.add(rangePath, `[${start}, ${end}) is out of bounds (0-65536)`);
    else if (start >= end) issues.add(rangePath, `start ${start} must be less than end ${end}`);
    return { kind: 'destination_port_range', start, end };
  }
  const sni = asObject(obj.requested_server_name);
  if (sni)
    return {
      kind: 'requested_server_name',
      name: stringMatcher(sni, join(path, 'requested_server_name'), issues),
    };
  if (!Object.keys(obj).some((k) => Object.hasOwn(PERMISSION_REASONS, k)))
    issues.add(path, 'a rule is required (and_rules, or_rules, any, header, url_path, ...)');
  return { kind: 'any' };
}

function principalSet(obj: JsonObject, path: string, issues: Issues): PrincipalModel[] {
  checkFields(obj, PRINCIPAL_SET_SPEC, path, issues);
  const ids = objectsOf(obj, 'ids', path).map(([p, pPath]) => principal(p, pPath, issues));
  if (ids.length === 0) issues.add(join(path, 'ids'), 'at least one is required');
  return ids;
}

function principal(obj: JsonObject, path: string, issues: Issues): PrincipalModel {
  checkFields(obj, PRINCIPAL_SPEC, path, issues, PRINCIPAL_REASONS);
  const and = asObject(obj.and_ids);
  if (and) return { kind: 'and', ids: principalSet(and, join(path, 'and_ids'), issues) };
  const or = asObject(obj.or_ids);
  if (or) return { kind: 'or', ids: principalSet(or, join(path, 'or_ids'), issues) };
  if (obj.any === true) return { kind: 'any' };
  const not = asObject(obj.not_id);
  if (not) return { kind: 'not', id: principal(not, join(path, 'not_id'), issues) };
  const authenticated = asObject(obj.authenticated);
  if (authenticated) {
    const authPath = join(path, 'authenticated');
    checkFields(authenticated, AUTHENTICATED_SPEC, authPath, issues);
    const name = asObject(authenticated.principal_name);
    return name
      ? {
          kind: 'authenticated',
          principalName: stringMatcher(name, join(authPath, 'principal_name'), issues),
        }
      : { kind: 'authenticated' };
  }
  for (const field of ['source_ip', 'direct_remote_ip'] as const) {
    const range = asObject(obj[field]);
    if (range) return { kind: 'direct_remote_ip', cidr: cidr(range, join(path, field), issues) };
  }
  const remote = asObject(obj.remote_ip);
  if (remote) return { kind: 'remote_ip', cidr: cidr(remote, join(path, 'remote_ip'), issues) };
  const header = asObject(obj.header);
  if (header)
    return { kind: 'header', header: headerMatcher(header, join(path, 'header'), issues) };
  if (obj.url_path !== undefined)
    return {
      kind: 'url_path',
      path: pathMatcher(asObject(obj.url_path), join(path, 'url_path'), issues),
    };
  if (!Object.keys(obj).some((k) => Object.hasOwn(PRINCIPAL_REASONS, k)))
    issues.add(path, 'an identifier is required (and_ids, or_ids, any, authenticated, ...)');
  return { kind: 'any' };
}
