/**
 * /server_info (envoy.admin.v3.ServerInfo) and the state /ready answers with, read from the
 * primary's parts on every call. Beyond Envoy's fields it shows the workers, the config in force
 * and where it came from, and the xDS connection.
 */
import os from 'node:os';
import type { AppliedConfig, XdsCounters } from '../xds/config-source.js';
import type { ServerInfoSource, ServerState } from './admin-sources.js';
import { PROXY_USER_AGENT } from '../version.js';

export interface ServerInfoInput {
  readonly version: string;
  /** The command-line options as given. */
  readonly commandLineOptions: Readonly<Record<string, unknown>>;
  readonly node: { readonly id: string; readonly cluster: string; readonly metadata?: unknown };
  /** Process start (ms since epoch). */
  readonly startedAtMs: number;
  readonly state: () => ServerState;
  readonly workers: () => { readonly configured: number; readonly live: number };
  /** The config accepted last (whether or not the workers run it yet). */
  readonly applied: () => AppliedConfig | undefined;
  /** The xDS connection; undefined without ADS. */
  readonly xds: () =>
    | {
        /** The control plane the ADS stream goes to (or last tried). */
        readonly target: string;
        /** Every control plane of the xDS cluster, by priority. */
        readonly targets?: readonly string[];
        readonly counters: XdsCounters;
        readonly stateDir?: string;
      }
    | undefined;
}

export class ServerInfo implements ServerInfoSource {
  constructor(private readonly input: ServerInfoInput) {}

  state(): ServerState {
    return this.input.state();
  }

  info(): Record<string, unknown> {
    const { input } = this;
    const uptime = `${Math.floor((Date.now() - input.startedAtMs) / 1000)}s`;
    const applied = input.applied();
    const xds = input.xds();
    return {
      version: `ferry-proxy/${input.version}`,
      state: input.state(),
      hot_restart_version: 'disabled',
      command_line_options: input.commandLineOptions,
      node: {
        id: input.node.id,
        cluster: input.node.cluster,
        ...(input.node.metadata ? { metadata: input.node.metadata } : {}),
        user_agent_name: PROXY_USER_AGENT,
        user_agent_version: input.version,
      },
      uptime_current_epoch: uptime,
      uptime_all_epochs: uptime,
      hostname: os.hostname(),
      workers: input.workers(),
      config: applied ? { version: applied.config.version, origin: applied.origin } : null,
      xds: xds
        ? {
            target: xds.target,
            targets: xds.targets ?? [xds.target],
            connected: xds.counters.connected,
            state_dir: xds.stateDir,
            last_rejection: xds.counters.lastRejection ?? null,
            // Resources rejected alone: each keeps its last accepted version (or is absent).
            rejected_resources: [...xds.counters.rejectedResources].flatMap(([typeUrl, byName]) =>
              [...byName.values()].map((r) => ({
                type_url: typeUrl,
                name: r.name,
                version: r.version,
                errors: r.errors,
                at: r.at,
              })),
            ),
          }
        : null,
    };
  }
}
