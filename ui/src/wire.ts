/**
 * The API's JSON bodies, from the workspace's wire contract (types only: nothing is imported at
 * run time), and the one document the dashboard's own server adds.
 */
export type {
  ApplyResponseJson,
  CertificatesJson,
  ErrorJson,
  HealthEventJson,
  HealthJson,
  HistoryEntryJson,
  HistoryJson,
  ListResponseJson,
  LoadBucketsJson,
  LoadHistoryJson,
  LoadJson,
  NodeGoneEventJson,
  NodeStatusJson,
  NodeSyncState,
  NodesPageJson,
  ResourceJson,
  RolloutJson,
  RolloutListJson,
  StoreEventJson,
  TypeStatusJson,
  WhoamiJson,
} from '@ferry/shared/api-wire';

/** GET /ui/settings.json: what the control plane's flags tell the dashboard. */
export interface UiSettingsJson {
  /** --jaeger-ui-url, without a trailing slash; absent: no trace links. */
  readonly jaeger_ui_url?: string;
}
