/**
 * acme-client talks to CAs through one shared axios instance. This module configures it once for
 * the control plane: a request timeout (axios has none by default), fewer blind retries (the
 * manager retries whole orders with backoff), and per-directory trust: an AcmeCertificate's
 * `directory_ca_pem` is trusted, in addition to the system's roots, for requests to that
 * directory's origin only.
 */
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';

const REQUEST_TIMEOUT_MS = 30_000;
const agents = new Map<string, { caPem: string; agent: Agent }>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
  const settings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } })
    .acmeSettings;
  if (settings) settings.retryMaxAttempts = 2;
  acme.axios.interceptors.request.use((config) => {
    if (config.url) {
      const trusted = agents.get(new URL(config.url).origin);
      if (trusted) config.httpsAgent = trusted.agent;
    }
    return config;
  });
}

/** Trusts `caPem` (with the system roots) for requests to `directoryUrl`'s origin. */
export function trustDirectory(directoryUrl: string, caPem: string): void {
  install();
  const origin = new URL(directoryUrl).origin;
  const current = agents.get(origin);
  if (caPem === '') {
    if (current) {
      current.agent.destroy();
      agents.delete(origin);
    }
    return;
  }
  if (current?.caPem === caPem) return;
  current?.agent.destroy();
  agents.set(origin, {
    caPem,
    agent: new Agent({ ca: [...rootCertificates, caPem], keepAlive: true }),
  });
}

/** Closes the kept-alive connections (control plane shutdown). */
export function closeDirectoryAgents(): void {
  for (const { agent } of agents.values()) agent.destroy();
  agents.clear();
}
