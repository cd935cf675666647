/**
 * The pre-flight report (preflight.ts) as the management API returns it with an apply, delete or
 * rollback (one per group the write changes). Types only.
 */

/** One resource ferry-proxy would receive that has errors or unchecked host DataSources. */
export interface PreflightResourceReport {
  readonly typeUrl: string;
  readonly kind: string;
  readonly name: string;
  /** The change creates or updates it. */
  readonly changed: boolean;
  /** `<field path>: <reason>`, as ferry-proxy's NACK words them. */
  readonly errors: readonly string[];
  /** Field paths of DataSources naming the proxies' files or environment (not read). */
  readonly unchecked: readonly string[];
  /** Node ids of the pre-checked proxies that would reject it (at most the list limit). */
  readonly rejectedBy: readonly string[];
  /** It is a reason to refuse the write (without force). */
  readonly blocking: boolean;
}

/** One connected proxy of the group. */
export interface PreflightProxy {
  readonly nodeId: string;
  /** user_agent_name/user_agent_version. */
  readonly userAgent: string;
  /** ferry-proxy of the bundled translator's version. */
  readonly preChecked: boolean;
  /** Pre-checked and no resource it would receive has errors. */
  readonly wouldAck: boolean;
  /** Pre-checked: the resources it would reject ("Listener \"web\""). */
  readonly rejects: readonly string[];
  /** One line for people: "pre-checked: would ACK", "not pre-checked: ...". */
  readonly note: string;
}

export interface PreflightReport {
  readonly group: string;
  /** The bundled ferry-proxy translator's version (the data-plane package's). */
  readonly translatorVersion: string;
  /** How many resources ferry-proxy would receive (and were translated). */
  readonly checkedResources: number;
  readonly resources: readonly PreflightResourceReport[];
  /** The group's connected proxies, by node id (at most the Preflight's list limit). */
  readonly proxies: readonly PreflightProxy[];
  /** How many connected proxies were pre-checked, and how many were not (all, listed or not). */
  readonly preCheckedProxies: number;
  readonly otherProxies: number;
  readonly warnings: readonly string[];
  /** The write is (or, for a dry run, would be) refused unless forced. */
  readonly refuse: boolean;
}
