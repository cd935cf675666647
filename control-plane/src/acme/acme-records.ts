/**
 * The control plane's own ACME records in the store (proto/ferry/v1/acme.proto): challenge
 * responses to serve, ordering state and accounts. They are not configuration: the management
 * API neither lists nor rolls them back, and xDS never serves them.
 */
import { createHash } from 'node:crypto';
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import type { Mutation } from '../store/store.js';

export const ACME_CHALLENGE_TYPE = 'type.googleapis.com/ferry.v1.AcmeChallenge';
export const ACME_STATE_TYPE = 'type.googleapis.com/ferry.v1.AcmeCertificateState';
export const ACME_ACCOUNT_TYPE = 'type.googleapis.com/ferry.v1.AcmeAccount';
/** The actor history records for the control plane's ACME writes (Secrets, records). */
export const ACME_ACTOR = 'control-plane (ACME)';

export interface AcmeChallengeRecord {
  readonly token: string;
  readonly keyAuthorization: string;
  readonly domain: string;
  /** "group/name" of the AcmeCertificate that ordered it. */
  readonly certificate: string;
}

export type AcmeStatus = 'PENDING' | 'VALID' | 'FAILED';

export interface AcmeStateRecord {
  readonly status: AcmeStatus;
  readonly specVersion: string;
  readonly orderUrl: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly renewAt: string;
  readonly lastError: string;
  readonly failures: number;
  readonly nextAttemptAt: string;
  readonly updatedAt: string;
  readonly replica: string;
  readonly pendingPrivateKeyPem: string;
}

export interface AcmeAccountRecord {
  readonly directoryUrl: string;
  readonly email: string;
  readonly privateKeyPem: string;
  readonly accountUrl: string;
}

type Json = Record<string, unknown>;

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function encode(message: string, json: Json): { value: Uint8Array; version: string } {
  const bytes = jsonToBinary(message, sortKeysDeep(json));
  if (!bytes.ok) throw new Error(`${message}: ${bytes.errors.join('; ')}`);
  return { value: bytes.value, version: contentVersion(bytes.value) };
}

type Put = Mutation & { op: 'put' };

function put(typeUrl: string, group: string, name: string, json: Json): Put {
  const message = typeUrl.slice(typeUrl.indexOf('/') + 1);
  return { op: 'put', typeUrl, group, name, ...encode(message, json) };
}

export function challengeMutation(group: string, c: AcmeChallengeRecord): Mutation {
  return put(ACME_CHALLENGE_TYPE, group, c.token, {
    token: c.token,
    key_authorization: c.keyAuthorization,
    domain: c.domain,
    certificate: c.certificate,
  });
}

export function decodeAcmeChallenge(value: Uint8Array): AcmeChallengeRecord {
  const j = binaryToJson('ferry.v1.AcmeChallenge', value) as Json;
  return {
    token: str(j.token),
    keyAuthorization: str(j.key_authorization),
    domain: str(j.domain),
    certificate: str(j.certificate),
  };
}

export function stateMutation(group: string, name: string, s: AcmeStateRecord): Put {
  return put(ACME_STATE_TYPE, group, name, {
    status: s.status,
    spec_version: s.specVersion,
    order_url: s.orderUrl,
    serial: s.serial,
    not_before: s.notBefore,
    not_after: s.notAfter,
    renew_at: s.renewAt,
    last_error: s.lastError,
    failures: s.failures,
    next_attempt_at: s.nextAttemptAt,
    updated_at: s.updatedAt,
    replica: s.replica,
    pending_private_key_pem: s.pendingPrivateKeyPem,
  });
}

export function decodeAcmeState(value: Uint8Array): AcmeStateRecord {
  const j = binaryToJson('ferry.v1.AcmeCertificateState', value) as Json;
  const s = (k: string): string => str(j[k]);
  return {
    status: (j.status as AcmeStatus | undefined) ?? 'PENDING',
    specVersion: s('spec_version'),
    orderUrl: s('order_url'),
    serial: s('serial'),
    notBefore: s('not_before'),
    notAfter: s('not_after'),
    renewAt: s('renew_at'),
    lastError: s('last_error'),
    failures: Number(j.failures ?? 0),
    nextAttemptAt: s('next_attempt_at'),
    updatedAt: s('updated_at'),
    replica: s('replica'),
    pendingPrivateKeyPem: s('pending_private_key_pem'),
  };
}

export const EMPTY_STATE: AcmeStateRecord = {
  status: 'PENDING',
  specVersion: '',
  orderUrl: '',
  serial: '',
  notBefore: '',
  notAfter: '',
  renewAt: '',
  lastError: '',
  failures: 0,
  nextAttemptAt: '',
  updatedAt: '',
  replica: '',
  pendingPrivateKeyPem: '',
};

/** One account per group, directory and email; its name is their hash. */
export function accountName(directoryUrl: string, email: string): string {
  return createHash('sha256').update(`${directoryUrl}\n${email}`).digest('hex').slice(0, 32);
}

export function accountMutation(group: string, a: AcmeAccountRecord): Mutation {
  return put(ACME_ACCOUNT_TYPE, group, accountName(a.directoryUrl, a.email), {
    directory_url: a.directoryUrl,
    email: a.email,
    private_key_pem: a.privateKeyPem,
    account_url: a.accountUrl,
  });
}

export function decodeAcmeAccount(value: Uint8Array): AcmeAccountRecord {
  const j = binaryToJson('ferry.v1.AcmeAccount', value) as Json;
  return {
    directoryUrl: str(j.directory_url),
    email: str(j.email),
    privateKeyPem: str(j.private_key_pem),
    accountUrl: str(j.account_url),
  };
}
