/**
 * `ferry-control-plane token create|list|revoke`: manages API tokens directly in the store, with no
 * API call, so that the first admin of a control plane that binds its API off loopback can exist
 * before it starts (and an operator with access to the store can recover from lost admin tokens).
 * SQLite stores may be shared with a running control plane: writes take the file's write lock, and
 * every replica sees the change at its next request. Writes are recorded with the actor
 * "ferry-control-plane token" plus the OS user.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { isFerryError } from '@ferry/shared';
import { ApiTokens } from './api/api-tokens.js';
import { parseDuration } from './ctl/args.js';
import { openStore } from './store/open-store.js';
import { ETCD_ACCESS_FLAGS, etcdAccessFromFlags } from './store/store-etcd-spec.js';

export const TOKEN_USAGE = `Usage: ferry-control-plane token create NAME --role viewer|operator|admin [--group G ...]
                                  [--expires 30d] [--client-identity ID] [--store SPEC]
       ferry-control-plane token list [--store SPEC]
       ferry-control-plane token revoke NAME [--store SPEC]

Manages management API tokens in the store directly (no running control plane needed), e.g. the
first admin token before binding the API off loopback. create prints the token once on stdout; the
store keeps only its SHA-256. --store as for the control plane [sqlite:./data/ferry.db], and for
etcd:// stores its --etcd-ca, --etcd-cert, --etcd-key, --etcd-username, --etcd-password-file
(or FERRY_ETCD_PASSWORD).
`;

/** Runs the command; returns the process exit code (0 ok, 1 refused, 2 usage). */
export async function tokenCommand(
  argv: readonly string[],
  defaultStore: string,
  out: (text: string) => void = (t) => void process.stdout.write(t),
  err: (text: string) => void = (t) => void process.stderr.write(t),
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        store: { type: 'string', default: defaultStore },
        ...ETCD_ACCESS_FLAGS,
        role: { type: 'string' },
        group: { type: 'string', multiple: true, default: [] },
        expires: { type: 'string' },
        'client-identity': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    err(`ferry-control-plane token: ${(e as Error).message}\n\n${TOKEN_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [action, name] = positionals;
  if (values.help) {
    out(TOKEN_USAGE);
    return 0;
  }
  if (!['create', 'list', 'revoke'].includes(action ?? '') || (action !== 'list' && !name)) {
    err(`ferry-control-plane token: expected create NAME, list or revoke NAME\n\n${TOKEN_USAGE}`);
    return 2;
  }
  const actor = `ferry-control-plane token (${os.userInfo().username})`;
  let store;
  try {
    store = await openStore(values.store, { etcd: etcdAccessFromFlags(values) });
  } catch (e) {
    err(`ferry-control-plane token: ${(e as Error).message}\n`);
    return 2;
  }
  const tokens = new ApiTokens(store);
  try {
    if (action === 'create') {
      const created = await tokens.create(
        {
          name: name ?? '',
          role: values.role ?? '',
          groups: values.group,
          ...(values.expires ? { expiresInSeconds: parseDuration(values.expires) } : {}),
          ...(values['client-identity'] ? { clientIdentity: values['client-identity'] } : {}),
        },
        actor,
      );
      if (created.token !== undefined) out(`${created.token}\n`);
      err(
        `token ${created.record.name} created (${created.record.role} of ${created.record.groups.join(', ')})${created.token ? '; it is shown only now' : ''}\n`,
      );
    } else if (action === 'list') {
      for (const t of await tokens.list())
        out(`${t.name}\t${t.role}\t${t.groups.join(',')}\t${t.expiresAt ?? 'never'}\n`);
    } else {
      await tokens.revoke(name ?? '', actor);
      err(`token ${name} revoked\n`);
    }
    return 0;
  } catch (e) {
    const message = isFerryError(e)
      ? [`${e.code}: ${e.message}`, ...e.details].join('\n  ')
      : (e as Error).message;
    err(`ferry-control-plane token: ${message}\n`);
    return isFerryError(e) && e.code !== 'FERRY_BAD_REQUEST' ? 1 : 2;
  } finally {
    await store.close();
  }
}
