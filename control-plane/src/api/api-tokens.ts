/**
 * The management API's credentials, kept in the ResourceStore as `ferry.v1.ApiToken` records
 * (proto/ferry/v1/api_token.proto) in the internal group INTERNAL_GROUP, so every replica sharing
 * the store accepts the same callers and every store (SQLite, memory, a future shared one) holds
 * them with no code of its own. They are not configuration: the xDS layer ignores their type, and
 * the API neither lists nor rolls them back as config. Creating and revoking them are revisions
 * like any other write, so history shows who did it.
 *
 * A token is `ferry.<name>.<secret>`: the name finds the record with one indexed read, the secret
 * is 32 random bytes (base64url) of which the store keeps only the SHA-256. A high-entropy secret
 * needs no slow hash: nobody can guess it from its digest. Digests are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import { FerryError, isFerryError } from '@ferry/shared';
import type { ResourceStore, StoredResource } from '../store/store.js';
import { ALL_GROUPS, isRole, type Caller, type Role } from './access.js';

export const API_TOKEN_TYPE = 'type.googleapis.com/ferry.v1.ApiToken';
const API_TOKEN_MESSAGE = 'ferry.v1.ApiToken';
/** Not a valid configuration group name (it starts with "_"), so it can never hold config. */
export const INTERNAL_GROUP = '_ferry';
const TOKEN_PREFIX = 'ferry.';
const SECRET_BYTES = 32;

/** Lower-case letters, digits, "-" and "_": no "." so a token splits unambiguously. */
const TOKEN_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;

export interface ApiTokenRecord {
  readonly name: string;
  readonly role: Role;
  readonly groups: readonly string[];
  /** Empty for a client-certificate binding. */
  readonly secretSha256: Uint8Array;
  /** Set for a client-certificate binding. */
  readonly clientIdentity: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601; undefined: never expires. */
  readonly expiresAt: string | undefined;
  readonly createdBy: string;
}

export interface CreateTokenRequest {
  readonly name: string;
  readonly role: string;
  readonly groups: readonly string[];
  /** Lifetime from now; undefined: never expires. */
  readonly expiresInSeconds?: number;
  /** Bind a client certificate identity instead of making a secret. */
  readonly clientIdentity?: string;
}

export interface CreatedToken {
  readonly record: ApiTokenRecord;
  /** The bearer token; shown once, never stored. Undefined for a certificate binding. */
  readonly token: string | undefined;
}

export class ApiTokens {
  constructor(
    private readonly store: ResourceStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Stores a new token (or certificate binding); FERRY_CONFLICT when the name is taken. */
  async create(request: CreateTokenRequest, actor: string): Promise<CreatedToken> {
    // The name check and the write are one step (expected revision); other writers (applies,
    // the health quorum's reports) may move the revision in between, so retry a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.createAt(request, actor);
      } catch (err) {
        if (attempt >= 5 || !(err instanceof StoreConflict)) throw err;
      }
    }
  }

  private async createAt(request: CreateTokenRequest, actor: string): Promise<CreatedToken> {
    const { name, role, groups, clientIdentity } = checkCreate(request);
    const secret = clientIdentity ? undefined : randomBytes(SECRET_BYTES).toString('base64url');
    const created = this.now();
    const record: ApiTokenRecord = {
      name,
      role,
      groups,
      secretSha256: secret === undefined ? new Uint8Array() : sha256(secret),
      clientIdentity: clientIdentity ?? '',
      createdAt: created.toISOString(),
      expiresAt:
        request.expiresInSeconds === undefined
          ? undefined
          : new Date(created.getTime() + request.expiresInSeconds * 1000).toISOString(),
      createdBy: actor,
    };
    const existing = await this.store.list({ typeUrl: API_TOKEN_TYPE });
    if (existing.resources.some((r) => r.name === name)) {
      throw new FerryError(
        'FERRY_CONFLICT',
        `token "${name}" already exists; revoke it first (ferryctl token revoke ${name}) or pick another name`,
      );
    }
    if (clientIdentity) {
      const bound = existing.resources
        .map(decodeRecord)
        .find((r) => r.clientIdentity === clientIdentity);
      if (bound)
        throw new FerryError(
          'FERRY_CONFLICT',
          `client identity "${clientIdentity}" is already bound by token "${bound.name}"`,
        );
    }
    const value = encodeRecord(record);
    await this.applyExpecting(existing.revision, () =>
      this.store.apply(
        [
          {
            op: 'put',
            typeUrl: API_TOKEN_TYPE,
            group: INTERNAL_GROUP,
            name,
            value,
            version: contentVersion(value),
          },
        ],
        {
          expectedRevision: existing.revision,
          message: `token create ${name} (${role} of ${groups.join(', ')})`,
          actor,
        },
      ),
    );
    return { record, token: secret === undefined ? undefined : `${TOKEN_PREFIX}${name}.${secret}` };
  }

  /** Every token and binding, by name; secrets' digests are not part of the result. */
  async list(): Promise<ApiTokenRecord[]> {
    const { resources } = await this.store.list({ typeUrl: API_TOKEN_TYPE, group: INTERNAL_GROUP });
    return resources.map(decodeRecord).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Deletes a token: every replica refuses it from its next request on. FERRY_NOT_FOUND if absent. */
  async revoke(name: string, actor: string): Promise<void> {
    const result = await this.store.apply(
      [{ op: 'delete', typeUrl: API_TOKEN_TYPE, group: INTERNAL_GROUP, name }],
      { message: `token revoke ${name}`, actor },
    );
    if (result.changes.length === 0)
      throw new FerryError(
        'FERRY_NOT_FOUND',
        `token "${name}" does not exist (ferryctl token list)`,
      );
  }

  /** Whether any token or binding exists (no tokens + loopback = the open development mode). */
  async any(): Promise<boolean> {
    const { resources } = await this.store.list({ typeUrl: API_TOKEN_TYPE, group: INTERNAL_GROUP });
    return resources.length > 0;
  }

  /** The caller a bearer token stands for; FERRY_UNAUTHORIZED saying why when it stands for none. */
  async verify(token: string): Promise<Caller> {
    const parts = token.startsWith(TOKEN_PREFIX) ? token.slice(TOKEN_PREFIX.length).split('.') : [];
    const [name, secret] = parts;
    if (parts.length !== 2 || !name || !secret || !TOKEN_NAME.test(name)) {
      throw unauthorized('the bearer token is not a Ferry API token (ferry.NAME.SECRET)');
    }
    const { resources } = await this.store.list({
      typeUrl: API_TOKEN_TYPE,
      group: INTERNAL_GROUP,
      name,
    });
    const stored = resources[0];
    if (!stored)
      throw unauthorized(`token "${name}" is not known: it was revoked or never created`);
    const record = decodeRecord(stored);
    const digest = sha256(secret);
    // Same length (32) by construction unless the record is a certificate binding.
    if (
      record.secretSha256.length !== digest.length ||
      !timingSafeEqual(digest, record.secretSha256)
    ) {
      throw unauthorized(`wrong secret for token "${name}"`);
    }
    this.checkExpiry(record);
    return callerOf(record, 'token');
  }

  /**
   * The caller a verified client certificate stands for: the binding whose client identity is one
   * of the certificate's `identities` (URI SANs, DNS SANs, e-mail SANs, subject CN).
   */
  async verifyCertificate(identities: readonly string[]): Promise<Caller> {
    const bindings = await this.list();
    const record = bindings.find(
      (r) => r.clientIdentity !== '' && identities.includes(r.clientIdentity),
    );
    if (!record) {
      throw unauthorized(
        `client certificate (${identities.join(', ') || 'no identity'}) is not bound to a role; an admin binds it with: ferryctl token create NAME --role ROLE --group GROUP --client-identity ID`,
      );
    }
    this.checkExpiry(record);
    return callerOf(record, 'certificate');
  }

  private async applyExpecting(revision: number, apply: () => Promise<unknown>): Promise<void> {
    try {
      await apply();
    } catch (err) {
      if (isFerryError(err) && err.code === 'FERRY_CONFLICT') throw new StoreConflict(revision);
      throw err;
    }
  }

  private checkExpiry(record: ApiTokenRecord): void {
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= this.now().getTime()) {
      throw unauthorized(`token "${record.name}" expired at ${record.expiresAt}`);
    }
  }
}

/** The store moved past the revision a create checked the name at. */
class StoreConflict extends Error {
  constructor(revision: number) {
    super(`store moved past revision ${revision}`);
  }
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function unauthorized(reason: string): FerryError {
  return new FerryError(
    'FERRY_UNAUTHORIZED',
    `${reason}; ask an admin for a token (ferryctl token create) and set it in FERRY_TOKEN or ferryctl's config file`,
  );
}

function callerOf(record: ApiTokenRecord, via: 'token' | 'certificate'): Caller {
  return { name: record.name, role: record.role, groups: record.groups, via };
}

function checkCreate(request: CreateTokenRequest): {
  name: string;
  role: Role;
  groups: string[];
  clientIdentity: string | undefined;
} {
  const errors: string[] = [];
  if (!TOKEN_NAME.test(request.name))
    errors.push(
      `name: ${JSON.stringify(request.name)} is not a token name (lower-case letters, digits, - and _, at most 63)`,
    );
  if (!isRole(request.role))
    errors.push(`role: expected viewer, operator or admin, got ${JSON.stringify(request.role)}`);
  let groups = [...new Set(request.groups)].sort();
  if (request.role === 'admin') {
    if (groups.some((g) => g !== ALL_GROUPS))
      errors.push('groups: an admin holds every group; give none or "*"');
    groups = [ALL_GROUPS];
  } else if (groups.length === 0) {
    errors.push('groups: at least one group (or "*" for every group) is required');
  }
  groups.forEach((g, i) => {
    if (g !== ALL_GROUPS && !GROUP_NAME.test(g))
      errors.push(`groups[${i}]: ${JSON.stringify(g)} is not a valid group name`);
  });
  if (groups.includes(ALL_GROUPS)) groups = [ALL_GROUPS];
  const seconds = request.expiresInSeconds;
  if (seconds !== undefined && (!Number.isSafeInteger(seconds) || seconds <= 0))
    errors.push(`expires_in_seconds: expected a positive integer, got ${String(seconds)}`);
  const clientIdentity = request.clientIdentity || undefined;
  if (
    clientIdentity !== undefined &&
    (clientIdentity.length > 1024 || /[\s,]/.test(clientIdentity))
  )
    errors.push('client_identity: expected a URI, DNS name, e-mail or CN without spaces or commas');
  if (errors.length > 0)
    throw new FerryError('FERRY_BAD_REQUEST', 'token create: invalid request', errors);
  return { name: request.name, role: request.role as Role, groups, clientIdentity };
}

function encodeRecord(record: ApiTokenRecord): Uint8Array {
  const json = {
    name: record.name,
    role: record.role,
    groups: record.groups,
    secret_sha256: Buffer.from(record.secretSha256).toString('base64'),
    client_identity: record.clientIdentity,
    created_at: record.createdAt,
    ...(record.expiresAt === undefined ? {} : { expires_at: record.expiresAt }),
    created_by: record.createdBy,
  };
  const bytes = jsonToBinary(API_TOKEN_MESSAGE, sortKeysDeep(json));
  if (!bytes.ok) throw new FerryError('FERRY_INTERNAL', `ApiToken: ${bytes.errors.join('; ')}`);
  return bytes.value;
}

function decodeRecord(stored: StoredResource): ApiTokenRecord {
  const json = binaryToJson(API_TOKEN_MESSAGE, stored.value) as {
    name?: string;
    role?: string;
    groups?: string[];
    secret_sha256?: string;
    client_identity?: string;
    created_at?: string;
    expires_at?: string;
    created_by?: string;
  };
  const role = json.role ?? '';
  const known = isRole(role);
  return {
    name: json.name ?? stored.name,
    // A record from a newer Ferry with a role this one does not know grants nothing (no groups).
    role: known ? role : 'viewer',
    groups: known ? (json.groups ?? []) : [],
    secretSha256: Buffer.from(json.secret_sha256 ?? '', 'base64'),
    clientIdentity: json.client_identity ?? '',
    createdAt: json.created_at ?? '',
    expiresAt: json.expires_at,
    createdBy: json.created_by ?? '',
  };
}
