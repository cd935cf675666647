/**
 * Fleet status across replicas (docs/architecture.md, "Fleet status across replicas"): each
 * replica knows only the proxies whose streams it holds, so a status read asks every other live
 * replica's management API for its own (GET /v1/status?local=true) with the caller's credentials,
 * and lists them with the replica that answered. Replicas share the token store, so the peer
 * authorizes the caller exactly as the first one did and shows only the groups it may read.
 *
 * Every peer gets `timeoutMs`; one that does not answer in time, answers an error, or cannot be
 * asked (no API address in its membership record; a caller who authenticated with a client
 * certificate, which cannot be forwarded) is listed in `unanswered` with the reason, never
 * silently left out.
 */
import type { NodeStatus, StatusOptions, TypeStatus, ResourceStatus } from '../xds/fleet-status.js';

export interface PeerReplica {
  readonly id: string;
  /** Base URL of its HTTP management API ("" when its membership record names none). */
  readonly apiUrl: string;
}

export interface UnansweredReplica {
  readonly replica: string;
  readonly apiUrl: string;
  readonly error: string;
}

export interface PeerStatusResult {
  readonly nodes: readonly NodeStatus[];
  readonly unanswered: readonly UnansweredReplica[];
}

/** A peer's 200 answer, its JSON body parsed. */
export interface PeerAnswer {
  readonly replica: string;
  readonly apiUrl: string;
  readonly body: unknown;
}

/** What the first replica forwards of its caller. */
export interface ForwardedCaller {
  /** The request's Authorization value (a bearer token); undefined when it had none. */
  readonly authorization?: string | undefined;
  /** The caller proved itself with a client certificate (not forwardable). */
  readonly viaCertificate: boolean;
}

export interface PeerStatusOptions {
  /** The live replicas (membership records), this one included. */
  readonly replicas: () => readonly PeerReplica[];
  /** This replica's id. */
  readonly self: () => string;
  /** Per peer (default 3 s). */
  readonly timeoutMs?: number;
}

export class PeerStatus {
  readonly #options: PeerStatusOptions;
  readonly #timeoutMs: number;

  constructor(options: PeerStatusOptions) {
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 3000;
  }

  /** Asks every other live replica at once; resolves within about `timeoutMs`. */
  async collect(caller: ForwardedCaller, options: StatusOptions): Promise<PeerStatusResult> {
    const query = new URLSearchParams({ local: 'true' });
    if (options.nodeId !== undefined) query.set('node', options.nodeId);
    if (options.resources === true) query.set('resources', 'true');
    const { answers, unanswered } = await this.collectJson(caller, '/v1/status', query);
    const nodes: NodeStatus[] = [];
    for (const a of answers) {
      const body = a.body as { nodes?: unknown } | null;
      if (!Array.isArray(body?.nodes))
        unanswered.push({ ...a, error: 'answered without a node list' });
      else nodes.push(...body.nodes.map((n) => nodeStatusOfJson(n, a.replica)));
    }
    return { nodes, unanswered };
  }

  /**
   * GETs `path?query` (the caller adds `local=true` where the path would fan out again) from every
   * other live replica at once with the caller's credentials; resolves within about `timeoutMs`
   * with the parsed JSON bodies of those that answered 200 and, for the others, why not.
   */
  async collectJson(
    caller: ForwardedCaller,
    path: string,
    query: URLSearchParams,
  ): Promise<{ answers: PeerAnswer[]; unanswered: UnansweredReplica[] }> {
    const self = this.#options.self();
    const peers = this.#options.replicas().filter((p) => p.id !== self);
    const results = await Promise.all(peers.map((p) => this.#ask(p, caller, path, query)));
    const answers: PeerAnswer[] = [];
    const unanswered: UnansweredReplica[] = [];
    for (const r of results) {
      if ('error' in r) unanswered.push(r);
      else answers.push(r);
    }
    return { answers, unanswered };
  }

  async #ask(
    peer: PeerReplica,
    caller: ForwardedCaller,
    path: string,
    query: URLSearchParams,
  ): Promise<UnansweredReplica | PeerAnswer> {
    const fail = (error: string): UnansweredReplica => ({
      replica: peer.id,
      apiUrl: peer.apiUrl,
      error,
    });
    if (peer.apiUrl === '')
      return fail(
        'its membership record names no management API address (a replica of an older version); ask it directly',
      );
    if (caller.authorization === undefined && caller.viaCertificate)
      return fail(
        'the caller authenticated with a client certificate, which cannot be forwarded; ask this replica directly or use a token',
      );
    const url = new URL(path, peer.apiUrl);
    url.search = query.toString();
    try {
      const res = await fetch(url, {
        headers: caller.authorization !== undefined ? { authorization: caller.authorization } : {},
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await res.text();
      if (res.status !== 200) return fail(`answered ${res.status}: ${errorMessage(text)}`);
      return { replica: peer.id, apiUrl: peer.apiUrl, body: JSON.parse(text) as unknown };
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') return fail(`no answer within ${this.#timeoutMs} ms`);
      if (e instanceof SyntaxError) return fail(`answered with a body that is not JSON`);
      const cause = (e.cause as Error | undefined)?.message;
      return fail(`not reachable: ${cause ?? e.message}`);
    }
  }
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.message === 'string')
      return typeof body.code === 'string' ? `${body.code}: ${body.message}` : body.message;
  } catch {
    // Not the API's JSON error: show the start of the text.
  }
  return text.slice(0, 200);
}

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function resourceStatusOfJson(v: unknown): ResourceStatus {
  const j = obj(v);
  const nack = j.nack === undefined ? undefined : obj(j.nack);
  return {
    name: str(j.name),
    state: str(j.state),
    versionRunning: str(j.version_running),
    versionSent: str(j.version_sent),
    ...(nack
      ? { nack: { version: str(nack.version), error: str(nack.error), time: str(nack.time) } }
      : {}),
  };
}

function typeStatusOfJson(v: unknown): TypeStatus {
  const j = obj(v);
  const nack = j.last_nack === undefined ? undefined : obj(j.last_nack);
  return {
    typeUrl: str(j.type_url),
    versionSent: str(j.version_sent),
    versionAcked: str(j.version_acked),
    resources: typeof j.resources === 'number' ? j.resources : 0,
    ...(nack
      ? {
          lastNack: {
            version: str(nack.version),
            error: str(nack.error),
            time: str(nack.time),
            ...(nack.resources !== undefined ? { resources: arr(nack.resources).map(str) } : {}),
          },
        }
      : {}),
    ...(j.version_applied !== undefined ? { versionApplied: str(j.version_applied) } : {}),
    ...(j.rejected_resources !== undefined
      ? { rejectedResources: arr(j.rejected_resources).map(resourceStatusOfJson) }
      : {}),
    ...(j.resource_statuses !== undefined
      ? { resourceStatuses: arr(j.resource_statuses).map(resourceStatusOfJson) }
      : {}),
    ...(j.push_trace_id !== undefined ? { pushTraceId: str(j.push_trace_id) } : {}),
  };
}

/** A node of a peer's GET /v1/status (wire-json.ts's nodeStatusJson, read back). */
export function nodeStatusOfJson(v: unknown, replica: string): NodeStatus {
  const j = obj(v);
  return {
    nodeId: str(j.node_id),
    cluster: str(j.cluster),
    group: str(j.group),
    userAgent: str(j.user_agent),
    address: str(j.address),
    streams: arr(j.streams).map(str),
    connected: j.connected === true,
    connectedSince: str(j.connected_since),
    lastSeen: str(j.last_seen),
    types: arr(j.types).map(typeStatusOfJson),
    replica: str(j.replica) || replica,
    ...(j.rollout !== undefined ? { rollout: str(j.rollout) } : {}),
  };
}
