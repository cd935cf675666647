/**
 * SDS secrets (envoy.extensions.transport_sockets.tls.v3.Secret) and the SdsSecretConfigs that
 * name them, with Envoy's semantics:
 * - an SdsSecretConfig with `sds_config` names a secret delivered over ADS (`ads: {}`, optionally
 *   with `resource_api_version: V3`); other config sources are NACKed;
 * - one with only `name` names a static secret of the bootstrap (`static_resources.secrets`);
 *   an unknown one is an error, as in Envoy;
 * - an ADS secret not received yet is pending: the SecretScope records it and the listener or
 *   cluster referring to it warms (config/translate.ts) until it arrives.
 *
 * Every secret is translated once per build (its files read, its key checked against its
 * certificate) under its own label (`Secret "name": ...`), so a broken secret is one error
 * however many contexts use it.
 */
import path from 'node:path';
import type { SecretWatchModel, TlsCertificateModel } from './model.js';
import {
  Issues,
  type HostAccess,
  TYPE_URL_PREFIX,
  adsConfigSource,
  asObject,
  checkFields,
  join,
  messageSpec,
  str,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import {
  SDS_SECRET_CONFIG_SPEC,
  translateTlsCertificate,
  translateValidationContext,
  watchedDirectory,
  type SecretResolver,
} from './translate-tls.js';

export const SECRET_TYPE_URL = TYPE_URL_PREFIX + 'envoy.extensions.transport_sockets.tls.v3.Secret';

const SECRET_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.Secret', {
  name: 'the name SdsSecretConfigs refer to',
  tls_certificate: 'a certificate and key (tls_certificate_sds_secret_configs)',
  validation_context:
    'a validation context (validation_context_sds_secret_config, combined_validation_context)',
});

export const SECRET_SPECS: readonly MessageSpec[] = [SECRET_SPEC];

interface TranslatedSecret {
  readonly name: string;
  /** False when the secret has errors (reported under its own label). */
  readonly ok: boolean;
  readonly certificate?: TlsCertificateModel;
  /** Its tls_certificate names host files or variables left unread (host access 'skip'). */
  readonly certificateUnchecked: boolean;
  /** The validation context as received, for merging (combined_validation_context). */
  readonly validation?: JsonObject;
  readonly watches: readonly SecretWatchModel[];
}

/** Translates one Secret; its errors go to `issues` (labelled with the secret's name). */
export function translateSecret(json: JsonObject, issues: Issues): TranslatedSecret {
  const before = issues.errors.length;
  checkFields(json, SECRET_SPEC, '', issues);
  const name = str(json.name);
  if (name === '') issues.add('name', 'required');
  const watches: SecretWatchModel[] = [];
  const certJson = asObject(json.tls_certificate);
  let certificate: TlsCertificateModel | undefined;
  let certificateUnchecked = false;
  if (certJson) {
    const unread = issues.unchecked.length;
    certificate = translateTlsCertificate(certJson, 'tls_certificate', issues, true);
    certificateUnchecked = issues.unchecked.length > unread;
    watches.push(
      ...watchesOf(certJson, ['certificate_chain', 'private_key'], 'tls_certificate', issues),
    );
  }
  const validation = asObject(json.validation_context);
  if (validation) {
    translateValidationContext(validation, 'validation_context', issues, true, 'secret');
    watches.push(...watchesOf(validation, ['trusted_ca'], 'validation_context', issues));
  }
  return {
    name,
    ok: issues.errors.length === before,
    certificateUnchecked,
    ...(certificate ? { certificate: { ...certificate, secretName: name } } : {}),
    ...(validation ? { validation } : {}),
    watches,
  };
}

/**
 * What to watch for one message of a secret: its watched_directory when set (any entry moved in
 * reloads, Envoy's symlink-swap support), else the directory of each `filename` DataSource,
 * filtered to that file's name.
 */
function watchesOf(
  message: JsonObject,
  sourceFields: readonly string[],
  messagePath: string,
  issues: Issues,
): SecretWatchModel[] {
  // Checked (and reported) by the translation itself; a scratch Issues avoids a duplicate.
  const directory = watchedDirectory(message, messagePath, new Issues(''), true);
  if (directory !== undefined && issues.ok) return [{ directory: path.resolve(directory) }];
  const out: SecretWatchModel[] = [];
  for (const field of sourceFields) {
    const file = asObject(message[field])?.filename;
    if (typeof file !== 'string' || file === '') continue;
    const absolute = path.resolve(file);
    out.push({ directory: path.dirname(absolute), names: [path.basename(absolute)] });
  }
  return out;
}

/**
 * The secrets one build resolves SdsSecretConfigs against: the bootstrap's static secrets and
 * those received over ADS. Records the ADS secrets referred to but not received (pending).
 */
export class SecretScope implements SecretResolver {
  readonly #static = new Map<string, TranslatedSecret>();
  readonly #dynamic = new Map<string, TranslatedSecret>();
  #pending = new Set<string>();

  /**
   * Translates every secret; each one with errors is reported to `reject` (`isStatic`: one of
   * the bootstrap's static secrets), and each ADS secret's collector is handed to `report`.
   */
  constructor(
    staticSecrets: readonly JsonObject[],
    dynamicSecrets: readonly JsonObject[],
    reject: (name: string, errors: string[], isStatic: boolean) => void,
    hostAccess: HostAccess = 'read',
    report?: (name: string, issues: Issues) => void,
  ) {
    for (const json of staticSecrets) {
      const issues = new Issues(`static Secret ${JSON.stringify(str(json.name))}`, hostAccess);
      const secret = translateSecret(json, issues);
      if (this.#static.has(secret.name)) issues.add('name', 'duplicate static secret name');
      this.#static.set(secret.name, secret);
      if (!issues.ok) reject(secret.name, issues.errors, true);
    }
    for (const json of dynamicSecrets) {
      const issues = new Issues(`Secret ${JSON.stringify(str(json.name))}`, hostAccess);
      const secret = translateSecret(json, issues);
      this.#dynamic.set(secret.name, secret);
      if (!issues.ok) reject(secret.name, issues.errors, false);
      report?.(secret.name, issues);
    }
  }

  /** ADS secrets referred to since the last call and not received; clears the record. */
  takePending(): string[] {
    const names = [...this.#pending].sort();
    this.#pending = new Set();
    return names;
  }

  /** Every directory to watch for the secrets' files, merged per directory, sorted. */
  watches(): SecretWatchModel[] {
    const byDirectory = new Map<string, Set<string> | undefined>();
    for (const secret of [...this.#static.values(), ...this.#dynamic.values()])
      for (const watch of secret.watches) {
        const had = byDirectory.get(watch.directory);
        if (!byDirectory.has(watch.directory))
          byDirectory.set(watch.directory, watch.names ? new Set(watch.names) : undefined);
        else if (had === undefined || watch.names === undefined)
          byDirectory.set(watch.directory, undefined);
        else for (const name of watch.names) had.add(name);
      }
    return [...byDirectory.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([directory, names]) =>
        names ? { directory, names: [...names].sort() } : { directory },
      );
  }

  tlsCertificate(
    ref: JsonObject,
    refPath: string,
    issues: Issues,
  ): TlsCertificateModel | undefined {
    const secret = this.#resolve(ref, refPath, issues);
    if (!secret?.ok) return undefined;
    // A certificate given but read from the host under host access 'skip' is not missing.
    if (!secret.certificate && !secret.certificateUnchecked)
      issues.add(refPath, `secret ${JSON.stringify(secret.name)} has no tls_certificate`);
    return secret.certificate;
  }

  validationContext(ref: JsonObject, refPath: string, issues: Issues): JsonObject | undefined {
    const secret = this.#resolve(ref, refPath, issues);
    if (!secret?.ok) return undefined;
    if (!secret.validation)
      issues.add(refPath, `secret ${JSON.stringify(secret.name)} has no validation_context`);
    return secret.validation;
  }

  #resolve(ref: JsonObject, refPath: string, issues: Issues): TranslatedSecret | undefined {
    checkFields(ref, SDS_SECRET_CONFIG_SPEC, refPath, issues);
    const name = str(ref.name);
    if (name === '') {
      issues.add(join(refPath, 'name'), 'required');
      return undefined;
    }
    if (ref.sds_config === undefined) {
      const secret = this.#static.get(name);
      if (!secret)
        issues.add(
          join(refPath, 'name'),
          `no static secret ${JSON.stringify(name)} in static_resources.secrets (add sds_config: {ads: {}} to receive it over SDS)`,
        );
      return secret;
    }
    const before = issues.errors.length;
    adsConfigSource(asObject(ref.sds_config), join(refPath, 'sds_config'), issues);
    if (issues.errors.length !== before) return undefined;
    const secret = this.#dynamic.get(name);
    if (!secret) this.#pending.add(name);
    return secret;
  }
}
