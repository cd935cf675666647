/**
 * The translated form of `envoy.config.rbac.v3.RBAC` (plain data: it crosses IPC from where
 * config is translated to the workers, which compile it with rbac-engine.ts).
 */
import type { HeaderMatcherModel, StringMatcherModel } from '../../../config/model.js';

/** A CidrRange: an address and a prefix length, checked at translation. */
export interface CidrModel {
  readonly address: string;
  readonly prefixLen: number;
}

export type PermissionModel =
  | { readonly kind: 'any' }
  | { readonly kind: 'and' | 'or'; readonly rules: readonly PermissionModel[] }
  | { readonly kind: 'not'; readonly rule: PermissionModel }
  | { readonly kind: 'header'; readonly header: HeaderMatcherModel }
  | { readonly kind: 'url_path'; readonly path: StringMatcherModel }
  | { readonly kind: 'destination_ip'; readonly cidr: CidrModel }
  | { readonly kind: 'destination_port'; readonly port: number }
  | { readonly kind: 'destination_port_range'; readonly start: number; readonly end: number }
  | { readonly kind: 'requested_server_name'; readonly name: StringMatcherModel };

export type PrincipalModel =
  | { readonly kind: 'any' }
  | { readonly kind: 'and' | 'or'; readonly ids: readonly PrincipalModel[] }
  | { readonly kind: 'not'; readonly id: PrincipalModel }
  /** principalName absent: any TLS connection. */
  | { readonly kind: 'authenticated'; readonly principalName?: StringMatcherModel }
  /** source_ip (deprecated) and direct_remote_ip: the socket's peer address. */
  | { readonly kind: 'direct_remote_ip'; readonly cidr: CidrModel }
  /** The trusted client address after X-Forwarded-For processing. */
  | { readonly kind: 'remote_ip'; readonly cidr: CidrModel }
  | { readonly kind: 'header'; readonly header: HeaderMatcherModel }
  | { readonly kind: 'url_path'; readonly path: StringMatcherModel };

export interface PolicyModel {
  readonly name: string;
  readonly permissions: readonly PermissionModel[];
  readonly principals: readonly PrincipalModel[];
}

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export interface RbacModel {
  readonly action: RbacAction;
  /** Sorted by name: Envoy evaluates its policy map in key order and reports the first match. */
  readonly policies: readonly PolicyModel[];
}
