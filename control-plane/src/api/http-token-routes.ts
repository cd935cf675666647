/**
 * The HTTP API's token routes (admin only; the service checks the role):
 *   GET    /v1/tokens          list, never with secrets or their digests
 *   POST   /v1/tokens          {name, role, groups, expires_in_seconds, client_identity} → 201 with
 *                              the token, shown this once
 *   DELETE /v1/tokens/{name}   revoke
 */
import { FerryError } from '@ferry/shared';
import type { Caller } from './access.js';
import { expectMethod, optionalString, parseJsonObject } from './http-request.js';
import type { ManagementService } from './management-service.js';
import { tokenJson, type CreatedTokenJson } from './wire-json.js';

export interface TokenRouteRequest {
  readonly method: string;
  /** /v1/tokens or /v1/tokens/{name}. */
  readonly path: string;
  readonly caller: Caller;
  /** Reads the (bounded) request body. */
  readonly body: () => Promise<Buffer>;
}

export async function tokenRoute(
  service: ManagementService,
  request: TokenRouteRequest,
): Promise<{ status: number; body: unknown }> {
  const { method, path, caller } = request;
  if (path === '/v1/tokens') {
    expectMethod(method, ['GET', 'POST']);
    if (method === 'GET')
      return { status: 200, body: { tokens: (await service.listTokens(caller)).map(tokenJson) } };
    const body = parseJsonObject(await request.body(), [
      'name',
      'role',
      'groups',
      'expires_in_seconds',
      'client_identity',
    ]);
    const groups = body.groups ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string'))
      throw new FerryError('FERRY_BAD_REQUEST', 'groups: expected an array of group names');
    const expires = body.expires_in_seconds;
    if (expires !== undefined && typeof expires !== 'number')
      throw new FerryError('FERRY_BAD_REQUEST', 'expires_in_seconds: expected a number');
    const clientIdentity = optionalString(body, 'client_identity');
    const created = await service.createToken(
      {
        name: optionalString(body, 'name') ?? '',
        role: optionalString(body, 'role') ?? '',
        groups: groups as string[],
        ...(expires === undefined ? {} : { expiresInSeconds: expires }),
        ...(clientIdentity === undefined ? {} : { clientIdentity }),
      },
      caller,
    );
    const reply: CreatedTokenJson = {
      ...tokenJson(created.record),
      ...(created.token === undefined ? {} : { token: created.token }),
    };
    return { status: 201, body: reply };
  }
  expectMethod(method, ['DELETE']);
  const name = decodeURIComponent(path.slice('/v1/tokens/'.length));
  await service.revokeToken(name, caller);
  return { status: 200, body: { revoked: name } };
}
