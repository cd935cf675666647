/** ferryctl's help texts. */
import { DEFAULT_SERVER } from './args.js';

export const GLOBAL_HELP = `ferryctl: manage the configuration a Ferry control plane serves to its proxies.

Usage: ferryctl COMMAND [ARGS] [FLAGS]

Commands:
  apply -f FILE|DIR|-     validate and store resources (multi-document YAML or JSON)
  diff -f FILE|DIR|-      show what apply would change
  get TYPE [NAME]         list or show resources
  delete TYPE NAME...     delete resources (refused while still referenced)
  status [NODE]           connected proxies, what each ACKed or NACKed (NODE: per resource)
  health                  endpoint health as the proxies see it (HDS reports)
  waf                     which proxies run the WAF, with which rule set and mode
  load                    requests per cluster and locality as proxies report them (LRS)
  history                 revisions of the store, newest first
  rollback REV            restore the state of revision REV as a new revision
  token create|list|revoke  API tokens and client-certificate bindings (admin)
  whoami                  the name, role and groups the server sees for these credentials
  certs                   ACME certificates and every certificate in stored Secrets
  replicas                control-plane replicas, the leader, and this replica's proxies
  rollout status|pause|resume|abort|promote  progressive rollouts (apply --stages/--rollout)

TYPE: listeners (lds), routes (rds), clusters (cds), endpoints (eds), secrets (sds), in singular,
plural or Envoy message name form; acme (AcmeCertificate) for certificates the control plane
orders with ACME; accesspolicies (XdsAccessPolicy) for which proxy identities may join a group;
ratelimits (RateLimitPolicy) for the fleet-wide limits the control plane's RateLimitService counts.

Global flags:
  --server URL            API address, http:// or https:// (env FERRY_SERVER, default
                          ${DEFAULT_SERVER})
  --ca FILE               PEM CA that signed an https:// server's certificate
  --cert FILE, --key FILE client certificate (servers started with --api-client-ca)
  -g, --group GROUP       resource group (a proxy's --service-cluster); default "default"
  -o, --output FORMAT     table (default), yaml or json
  -h, --help              help; "ferryctl COMMAND --help" for a command

Credentials: the token comes from FERRY_TOKEN (else FERRY_API_TOKEN, the control plane's bootstrap
admin token), else the config file; there is no --token flag, because command lines stay in shell
history and ps. Config file ($FERRY_CONFIG, else $XDG_CONFIG_HOME/ferry/ferryctl.yaml, else
~/.config/ferry/ferryctl.yaml), every key optional, flags and environment win:
  server: https://ferry.example:18001
  token: ferry.NAME.SECRET
  ca: ca.pem                (cert: and key: too; relative to the file)
Roles are granted per group: viewer (get, diff, status, health, load, history), operator (also
apply, delete, rollback), admin (every group, tokens, --show-secrets). A control plane with no
token at all, bound to loopback, lets requests without credentials in as admin "loopback".

Environment: FERRY_TRACEPARENT (or TRACEPARENT), a W3C traceparent sent with every request, so
that the control plane's spans of an apply join the caller's trace (a CI job's, for example).

Exit codes: 0 success, 1 rejected by the server (invalid, conflict, still referenced, not
found), 2 usage, connection or TLS error, or no valid credentials (no token; unknown, expired or
revoked token), 3 permission denied (the role does not allow this for that group; the message
names the role and group needed).
`;

export const COMMAND_HELP: Record<string, string> = {
  apply: `Usage: ferryctl apply -f FILE|DIR|- [-f ...] [--group G] [--dry-run] [--force] [-m MESSAGE] [-o json|yaml]

Applies every document of the inputs as one atomic batch: all are validated against the group's
state after the batch (references, regexes, ports, TLS material) and stored together, or none.
A DIR takes its *.yaml, *.yml and *.json files in name order; "-" reads stdin.
  --dry-run      validate and report created/updated/unchanged without writing
  -m, --message  recorded in history

Pre-flight: the control plane runs ferry-proxy's own translator on the group's resulting
resources and prints, per resource, what ferry-proxy would reject (with field paths) and, per
connected proxy, "pre-checked: would ACK / would NACK" (ferry-proxy of the control plane's
version) or "not pre-checked" (other versions, Envoy, gRPC clients). An apply with a changed
resource that every pre-checked proxy would reject is refused (exit 1, FERRY_PREFLIGHT_REJECTED);
a dry run prints the report and exits 1 when the apply would be refused.
  --force        write even when the pre-flight refuses (the proxies will NACK), and abort the
                 group's active rollout first (an apply is refused while one runs)

As a progressive rollout (see ferryctl rollout --help, docs/rollouts.md):
  --stages 1,10%,100%   stage sizes: proxies, or percentages of the matching connected ones
  --bake 30s            how long each stage stays healthy before the next (default 60s)
  --selector KEY=VALUE  only matching proxies take part (repeatable)
  --rollout FILE        a spec file: stages, bake, selector, gates (flags override it)
`,
  diff: `Usage: ferryctl diff -f FILE|DIR|- [--group G] [--show-secrets]

Validates the inputs (dry run) and prints, for each resource apply would create or update, a
unified diff of its YAML (current → applied). Key material is redacted unless --show-secrets.
`,
  get: `Usage: ferryctl get TYPE [NAME] [--group G] [-o table|yaml|json] [--show-secrets]

Lists resources of TYPE (in every group unless --group), or one by NAME. -o yaml prints the
documents themselves, ready to edit and apply. Private keys are shown as "[redacted]" unless
--show-secrets.
`,
  delete: `Usage: ferryctl delete TYPE NAME [NAME...] [--group G] [--dry-run] [--force]

Deletes resources atomically. Refused (exit 1) while other resources of the group still refer
to them: delete or change those first, or in the same command. Pre-flight as for apply
(--force overrides a refusal).
`,
  status: `Usage: ferryctl status [NODE] [-o json]

Shows the store revision and, per connected proxy and resource type, the version sent, the
version ACKed and the last NACK with its error; then the resources that proxies rejected alone
(ferry-proxy applies the rest of an update and keeps the rejected resource's running version).
With several control-plane replicas, the proxies are those connected to the replica that answers
(named on the second line, with the leader).

With NODE: that proxy's resources one by one: STATE (ACKED, NACKED, REQUESTED: sent and not
answered yet, DOES_NOT_EXIST), the version RUNNING (of the update whose copy of the resource the
proxy runs; - when it has none), the version SENT, and the NACK that rejected it.
`,
  health: `Usage: ferryctl health [--group G] [-o json]

Shows, per group, cluster and endpoint, how many proxies see it healthy and unhealthy (from
their active health checks, reported over HDS) and since when those counts hold; then each
proxy's own view. STATUS is HEALTHY or UNHEALTHY when all reporting proxies agree, else MIXED.
EDS shows, for clusters using the quorum rule (ferry.health_quorum or ferry.hds metadata),
whether the endpoint is served UNHEALTHY to the whole group because of it.
`,
  waf: `Usage: ferryctl waf [--group G] [-o json]

Shows, per proxy connected to this replica, listener and ferry.filters.http.waf filter in the
listeners it runs (its last applied copies): MODE (ON, DETECTION_ONLY or OFF; unset in the
config: the directives' SecRuleEngine; then the modes routes set), RULESET (the first 16 hex
digits of the SHA-256 of the directives, "+crs" when they include the proxy host's CRS with
@crs/), and ROUTES-OVERRIDING: each route level with a WafPerRoute, as
ROUTE_CONFIG:PATH=MODE/RULESET (RULESET: of the filter's and the route's directives) or disabled.
`,
  load: `Usage: ferryctl load [--group G] [--cluster C] [-o json]

Shows the load proxies report over LRS (clusters with lrs_server set): per group and cluster,
requests completed successfully, with errors, issued, in progress now and dropped, summed over
the reporting proxies since their streams opened; then per proxy and locality, the last
interval's counts.
`,
  certs: `Usage: ferryctl certs [--group G] [--warn-days N] [-o json]

Shows the AcmeCertificates the control plane orders and renews (status PENDING, VALID or
FAILED, serial, expiry, when renewal starts, the last error and the next retry), then every
certificate held in a stored Secret, per group: subject, SANs, expiry and days left, with a
WARNING line for each that expires in fewer than N days (default 21).
`,
  replicas: `Usage: ferryctl replicas [-o json]

Lists the control-plane replicas sharing the store (alive: each renews a membership lease), the
one that leads (it runs the singleton duties, such as ordering ACME certificates) and the one
that answered, then the proxies whose xDS streams the answering replica holds. A replica that
died stays listed until its lease lapses (a few seconds); a dead leader's lease lapses after
--leader-lease-ttl-ms, and another replica leads from then on.
`,
  history: `Usage: ferryctl history [--limit N] [-o json]

Lists revisions of the store, newest first, with who made each (ACTOR: the token's name,
FERRY_API_TOKEN, loopback, or - for the control plane itself) and its message. A viewer of some
groups sees the changes to those groups. The control plane keeps the newest --history-retain
revisions (10000 by default) and trims older ones; the last line then says up to which revision
(JSON: history_base), and the state of that revision is still kept for rollback.
`,
  token: `Usage: ferryctl token create NAME --role viewer|operator|admin [--group G ...] [--expires 30d]
                            [--client-identity ID]
       ferryctl token list [-o json]
       ferryctl token revoke NAME

Admin only. create prints the new token (ferry.NAME.SECRET) once on stdout; the control plane
keeps only its SHA-256. A viewer or operator needs one --group per group, or --group '*' for all;
an admin holds every group. --expires takes s, m, h, d or w. --client-identity ID makes a binding
instead of a token: a client certificate (verified against the server's --api-client-ca) whose URI
SAN, DNS SAN, e-mail SAN or CN is ID acts under NAME's role. revoke takes effect on every
control-plane replica sharing the store from its next request.
`,
  whoami: `Usage: ferryctl whoami [-o json]

Shows the name, role and groups the control plane gives the current credentials.
`,
  rollout: `Usage: ferryctl rollout status|pause|resume|abort|promote [--group G] [-o json]

status lists the rollouts (active and finished) of the group, or of every readable group. The
actions act on the group's active rollout: pause holds it at its stage (updated proxies keep the
candidate; gates still roll it back), resume continues it, abort puts every proxy back on the
stable configuration, promote applies the candidate to the whole group at once. Start one with
  ferryctl apply -f FILE --stages 1,10%,50%,100% [--bake 30s] [--selector KEY=VALUE]... [--force]
  ferryctl apply -f FILE --rollout SPEC.yaml
KEY: id, cluster, locality.region, locality.zone, locality.sub_zone, metadata.FIELD. SPEC.yaml
holds stages, bake, selector (a map) and gates (max_error_ratio, max_error_ratio_increase,
min_requests, max_unhealthy_hosts_increase, latency: {max_ratio, min_requests}); flags override
it. While a rollout is active, other
applies, deletes and rollbacks of its group are refused; --force aborts it first. See
docs/rollouts.md.
`,
  rollback: `Usage: ferryctl rollback REV [--group G] [--dry-run] [--force]

Restores the state at revision REV (of one group, or of every group) as a new revision, validated
like an apply, pre-flight included (--force overrides a refusal). A revision older than the
trimmed log keeps is refused (exit 1, FERRY_REVISION_TRIMMED, naming the oldest kept).
`,
};
