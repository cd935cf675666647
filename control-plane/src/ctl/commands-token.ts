/**
 * ferryctl's access commands: `token create|list|revoke` (admin) and `whoami`. A created token is
 * printed once, on stdout alone, so that `FERRY_TOKEN=$(ferryctl token create ...)` works; the
 * server keeps only its hash.
 */
import type {
  CreatedTokenJson,
  CreateTokenRequestJson,
  RevokedTokenJson,
  TokenListJson,
  WhoamiJson,
} from '@ferry/shared/api-wire';
import type { ApiClient } from './api-client.js';
import type { ParsedArgs } from './args.js';
import { CtlError, EXIT_USAGE } from './ctl-error.js';
import { table } from './format.js';
import type { Output } from './output.js';

export async function token(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const [action, name, ...extra] = args.positional;
  if (extra.length > 0)
    throw new CtlError(EXIT_USAGE, `token ${action ?? ''}: unexpected ${extra.join(' ')}`);
  switch (action) {
    case 'create':
      return create(args, client, io, name);
    case 'list':
      return list(args, client, io);
    case 'revoke':
      if (!name)
        throw new CtlError(EXIT_USAGE, 'token revoke needs NAME (see ferryctl token list)');
      await client.delete<RevokedTokenJson>(`/v1/tokens/${encodeURIComponent(name)}`);
      io.out(`token ${name} revoked\n`);
      return;
    default:
      throw new CtlError(
        EXIT_USAGE,
        `token needs create, list or revoke, got ${JSON.stringify(action ?? '')} (see ferryctl token --help)`,
      );
  }
}

async function create(
  args: ParsedArgs,
  client: ApiClient,
  io: Output,
  name: string | undefined,
): Promise<void> {
  const o = args.options;
  if (!name) throw new CtlError(EXIT_USAGE, 'token create needs NAME');
  if (!o.role) throw new CtlError(EXIT_USAGE, 'token create needs --role viewer|operator|admin');
  if (o.role !== 'admin' && o.groups.length === 0)
    throw new CtlError(
      EXIT_USAGE,
      `token create: a ${o.role} needs --group GROUP (or --group '*')`,
    );
  const created = await client.post<CreateTokenRequestJson, CreatedTokenJson>('/v1/tokens', {
    name,
    role: o.role,
    groups: o.groups,
    ...(o.expiresInSeconds === undefined ? {} : { expires_in_seconds: o.expiresInSeconds }),
    ...(o.clientIdentity === undefined ? {} : { client_identity: o.clientIdentity }),
  });
  if (o.output === 'json') {
    io.out(JSON.stringify(created, null, 2) + '\n');
    return;
  }
  const what = `${created.role} of ${created.groups.join(', ')}${created.expires_at ? `, expires ${created.expires_at}` : ''}`;
  if (created.token === undefined) {
    io.out(`client certificate "${created.client_identity}" bound as ${created.name} (${what})\n`);
    return;
  }
  io.out(`${created.token}\n`);
  // On stderr so that stdout is the token alone; said once because it cannot be shown again.
  io.err?.(
    `token ${created.name} created (${what}); it is shown only now: store it (FERRY_TOKEN or the token: line of ferryctl's config file)\n`,
  );
}

async function list(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const response = await client.get<TokenListJson>('/v1/tokens');
  if (args.options.output === 'json') {
    io.out(JSON.stringify(response, null, 2) + '\n');
    return;
  }
  if (response.tokens.length === 0) {
    io.out('no tokens (requests without credentials are let in on loopback only)\n');
    return;
  }
  const now = Date.now();
  io.out(
    table(
      ['NAME', 'ROLE', 'GROUPS', 'KIND', 'EXPIRES', 'CREATED', 'CREATED BY'],
      response.tokens.map((t) => [
        t.name,
        t.role,
        t.groups.join(','),
        t.client_identity ? `certificate ${t.client_identity}` : 'token',
        t.expires_at === undefined
          ? 'never'
          : Date.parse(t.expires_at) <= now
            ? `${t.expires_at} (expired)`
            : t.expires_at,
        t.created_at,
        t.created_by || '-',
      ]),
    ),
  );
}

export async function whoami(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const me = await client.get<WhoamiJson>('/v1/whoami');
  if (args.options.output === 'json') {
    io.out(JSON.stringify(me, null, 2) + '\n');
    return;
  }
  io.out(`${me.name} (${me.via}): ${me.role} of ${me.groups.join(', ')}\n`);
}
