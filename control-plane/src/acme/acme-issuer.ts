/**
 * One ACME order (RFC 8555 section 7.4) for one AcmeCertificate, with acme-client: the account
 * (created once, its key kept in the store), the order (resumed from the stored order URL after a
 * restart), HTTP-01 answered through the fleet, finalization with a key generated here and
 * persisted before the CSR leaves, and the certificate chain. Every step that a restart must not
 * repeat is written to the store before the next one starts.
 */
import acme from 'acme-client';
import type { Logger } from '@ferry/shared';
import type { ResourceStore } from '../store/store.js';
import {
  ACME_ACCOUNT_TYPE,
  ACME_ACTOR,
  accountMutation,
  accountName,
  challengeMutation,
  decodeAcmeAccount,
  type AcmeChallengeRecord,
  type AcmeStateRecord,
} from './acme-records.js';
import type { AcmeSpec } from './acme-spec.js';
import { trustDirectory } from './acme-http.js';

export interface IssuedCertificate {
  readonly chainPem: string;
  readonly privateKeyPem: string;
}

export interface AcmeIssuerOptions {
  readonly store: ResourceStore;
  readonly logger?: Logger;
  /**
   * Resolves once every serving group's connected proxies serve `tokens` (acme-fleet-wait.ts);
   * rejects with what it still waits for when that takes too long.
   */
  readonly waitForChallenges: (
    groups: readonly string[],
    tokens: readonly string[],
  ) => Promise<void>;
  /** Writes `state` (merged over the current one) for the certificate being ordered. */
  readonly saveState: (spec: AcmeSpec, patch: Partial<AcmeStateRecord>) => Promise<AcmeStateRecord>;
  /** Polling of authorizations and orders at the CA (acme-client's backoff). */
  readonly pollMinMs?: number;
  readonly pollMaxMs?: number;
  readonly pollAttempts?: number;
}

type Order = acme.Order;
type Challenge = acme.Authorization['challenges'][number];

export class AcmeIssuer {
  constructor(private readonly options: AcmeIssuerOptions) {}

  async issue(spec: AcmeSpec, state: AcmeStateRecord): Promise<IssuedCertificate> {
    trustDirectory(spec.directoryUrl, spec.directoryCaPem);
    const client = await this.client(spec);
    const sameSpec = state.specVersion === spec.version;
    let order = sameSpec && state.orderUrl ? await this.resume(client, state.orderUrl) : undefined;
    let keyPem = sameSpec ? state.pendingPrivateKeyPem : '';
    if (!order || order.status === 'invalid' || (order.status === 'valid' && !keyPem)) {
      order = await client.createOrder({
        identifiers: spec.domains.map((value) => ({ type: 'dns', value })),
      });
      keyPem = '';
      await this.options.saveState(spec, {
        status: 'PENDING',
        specVersion: spec.version,
        orderUrl: order.url,
        pendingPrivateKeyPem: '',
      });
      this.options.logger?.info(
        { certificate: `${spec.group}/${spec.name}`, order: order.url },
        'ACME order created',
      );
    }
    if (order.status === 'pending') {
      await this.authorize(client, spec, order);
      order = await client.getOrder(order);
    }
    if (order.status === 'ready') {
      const key =
        spec.keyType === 'RSA_2048'
          ? await acme.crypto.createPrivateRsaKey(2048)
          : await acme.crypto.createPrivateEcdsaKey('P-256');
      keyPem = key.toString();
      // Persisted before the CSR leaves: an order finalized just before a crash is collected
      // with this key rather than ordered again.
      await this.options.saveState(spec, { pendingPrivateKeyPem: keyPem });
      const [, csr] = await acme.crypto.createCsr(
        { commonName: spec.domains[0], altNames: [...spec.domains] },
        key,
      );
      order = await client.finalizeOrder(order, csr);
    }
    if (order.status === 'processing') {
      const url = order.url;
      order = { ...(await client.waitForValidStatus(order)), url };
    }
    if (order.status !== 'valid') {
      throw new Error(`order ${order.url} is ${order.status}, expected valid`);
    }
    const chainPem = await client.getCertificate(order);
    return { chainPem, privateKeyPem: keyPem };
  }

  /** The stored order, or undefined when the CA no longer knows it (a new one is created). */
  private async resume(client: acme.Client, url: string): Promise<Order | undefined> {
    try {
      return await client.getOrder({ url } as Order);
    } catch (err) {
      this.options.logger?.warn(
        { order: url, err: (err as Error).message },
        'stored ACME order cannot be resumed; creating a new one',
      );
      return undefined;
    }
  }

  private async client(spec: AcmeSpec): Promise<acme.Client> {
    const { store } = this.options;
    const name = accountName(spec.directoryUrl, spec.email);
    const found = (await store.list({ typeUrl: ACME_ACCOUNT_TYPE, group: spec.group, name }))
      .resources[0];
    let account = found ? decodeAcmeAccount(found.value) : undefined;
    if (!account) {
      const key = await acme.crypto.createPrivateEcdsaKey('P-256');
      account = {
        directoryUrl: spec.directoryUrl,
        email: spec.email,
        privateKeyPem: key.toString(),
        accountUrl: '',
      };
      // Stored before the CA hears of it: the same key is used, and the same account found
      // (newAccount with an existing key returns it), however often this is retried.
      await store.apply([accountMutation(spec.group, account)], {
        actor: ACME_ACTOR,
        message: `ACME account key for ${spec.directoryUrl}`,
      });
    }
    const client = new acme.Client({
      directoryUrl: spec.directoryUrl,
      accountKey: account.privateKeyPem,
      ...(account.accountUrl ? { accountUrl: account.accountUrl } : {}),
      ...(this.options.pollMinMs !== undefined ? { backoffMin: this.options.pollMinMs } : {}),
      ...(this.options.pollMaxMs !== undefined ? { backoffMax: this.options.pollMaxMs } : {}),
      ...(this.options.pollAttempts !== undefined
        ? { backoffAttempts: this.options.pollAttempts }
        : {}),
    });
    if (!account.accountUrl) {
      await client.createAccount({
        termsOfServiceAgreed: true,
        ...(spec.email ? { contact: [`mailto:${spec.email}`] } : {}),
      });
      await store.apply(
        [accountMutation(spec.group, { ...account, accountUrl: client.getAccountUrl() })],
        {
          actor: ACME_ACTOR,
          message: `ACME account at ${spec.directoryUrl}`,
        },
      );
    }
    return client;
  }

  /**
   * HTTP-01 for every pending authorization at once: the responses go into every serving group,
   * the CA is told to validate only once the proxies serve them, and they are removed whatever
   * the outcome.
   */
  private async authorize(client: acme.Client, spec: AcmeSpec, order: Order): Promise<void> {
    const pending: Array<{
      authz: acme.Authorization;
      challenge: Challenge;
      record: AcmeChallengeRecord;
    }> = [];
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') {
        throw new Error(`authorization for ${authz.identifier.value} is ${authz.status}`);
      }
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) {
        throw new Error(`the CA offers no http-01 challenge for ${authz.identifier.value}`);
      }
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      pending.push({
        authz,
        challenge,
        record: {
          token: challenge.token,
          keyAuthorization,
          domain: authz.identifier.value,
          certificate: `${spec.group}/${spec.name}`,
        },
      });
    }
    if (pending.length === 0) return;
    const { store } = this.options;
    const puts = spec.groups.flatMap((g) => pending.map((p) => challengeMutation(g, p.record)));
    await store.apply(puts, {
      actor: ACME_ACTOR,
      message: `ACME HTTP-01 challenges for ${spec.group}/${spec.name}`,
    });
    try {
      await this.options.waitForChallenges(
        spec.groups,
        pending.map((p) => p.record.token),
      );
      for (const p of pending) await client.completeChallenge(p.challenge);
      for (const p of pending) await client.waitForValidStatus(p.authz);
    } finally {
      await store.apply(
        puts.map((m) => ({ op: 'delete', typeUrl: m.typeUrl, group: m.group, name: m.name })),
        {
          actor: ACME_ACTOR,
          message: `ACME HTTP-01 challenges for ${spec.group}/${spec.name} done`,
        },
      );
    }
  }
}
