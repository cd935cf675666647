/**
 * Who is calling the management API and what they may do (docs/architecture.md, "API
 * authentication and roles"). A caller holds one role for a set of groups:
 *   viewer    reads: resources, history, status, health, load (and dry runs) of its groups
 *   operator  a viewer that also applies, deletes and rolls back in its groups
 *   admin     everything in every group, plus tokens and `show_secrets`
 * The transports authenticate (authenticator.ts) and pass the Caller to ManagementService, which
 * checks each operation against the group it touches.
 */
import { FerryError } from '@ferry/shared';

export type Role = 'viewer' | 'operator' | 'admin';

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** A grant's group list holding this covers every group. */
export const ALL_GROUPS = '*';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface Caller {
  /** Recorded as the actor of the caller's writes; '' for in-process calls. */
  readonly name: string;
  readonly role: Role;
  /** Group names, or [ALL_GROUPS]. */
  readonly groups: readonly string[];
  /** How the caller proved who it is; named in permission errors. */
  readonly via: 'token' | 'certificate' | 'bootstrap token' | 'loopback' | 'in-process';
}

/**
 * The control plane calling its own service (tests, embedding): not an API caller, never built
 * from a request. The transports always pass the caller they authenticated.
 */
export const IN_PROCESS_CALLER: Caller = {
  name: '',
  role: 'admin',
  groups: [ALL_GROUPS],
  via: 'in-process',
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when `caller` holds at least `role` for `group` (for every group when undefined). */
export function allows(caller: Caller, role: Role, group?: string): boolean {
  if (RANK[caller.role] < RANK[role]) return false;
  if (caller.groups.includes(ALL_GROUPS)) return true;
  return group !== undefined && caller.groups.includes(group);
}

/**
 * Throws FERRY_FORBIDDEN unless `caller` holds `role` for `group` (every group when undefined).
 * `what` names the request ("apply to group \"api\"") for the message.
 */
export function requireRole(
  caller: Caller,
  role: Role,
  group: string | undefined,
  what: string,
): void {
  if (allows(caller, role, group)) return;
  const needed =
    role === 'admin'
      ? 'the admin role'
      : group === undefined
        ? `the ${role} role for every group ("*")`
        : `the ${role} role for group "${group}"`;
  throw new FerryError(
    'FERRY_FORBIDDEN',
    `${what} needs ${needed}; ${describeCaller(caller)}. Ask an admin for a token with that role (ferryctl token create)`,
  );
}

/** "token \"ci-web\" is an operator of group web" */
export function describeCaller(caller: Caller): string {
  const who =
    caller.via === 'token' || caller.via === 'certificate'
      ? `${caller.via} "${caller.name}"`
      : caller.via;
  const article = caller.role === 'viewer' ? 'a' : 'an';
  const scope = caller.groups.includes(ALL_GROUPS)
    ? 'every group'
    : `group${caller.groups.length === 1 ? '' : 's'} ${caller.groups.join(', ')}`;
  return `${who} is ${article} ${caller.role} of ${scope}`;
}

/** Whether `caller` may read `group`: reads are filtered with this rather than refused. */
export function canRead(caller: Caller, group: string): boolean {
  return allows(caller, 'viewer', group);
}
