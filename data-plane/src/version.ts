/**
 * ferry-proxy's version: the data-plane package's. The proxy sends it as its node's
 * user_agent_version, and the control plane's pre-flight compares it with the version of the
 * translator it bundles (docs/architecture.md, "Pre-flight").
 */
import fs from 'node:fs';

/** The user_agent_name ferry-proxy sends in its xDS Node. */
export const PROXY_USER_AGENT = 'ferry-proxy';

let cached: string | undefined;

/** The package version, read once (synchronously: it is called at start-up, not per request). */
export function proxyVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(
        fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
      ) as { version?: string };
      cached = pkg.version ?? '0.0.0';
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}
