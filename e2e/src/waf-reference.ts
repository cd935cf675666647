/**
 * The WAF reference: nginx with ModSecurity v3 (Debian's libnginx-mod-http-modsecurity) running
 * the OWASP Core Rule Set installed by Debian's modsecurity-crs, as a reverse proxy in front of a
 * backend, started the way the harness starts Ferry's processes (loopback, a free port, a temp
 * dir, in the foreground, killed by stopAll()).
 *
 * The rules are given as the same directives Ferry's WAF filter takes, `@crs/` paths included,
 * so both sides run one rule set (resolveCrsPaths).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, tempDir, trackProcess } from './harness.js';

export const CRS_CONFIG_DIR = '/etc/modsecurity/crs';
export const CRS_INSTALL_DIR = '/usr/share/modsecurity-crs';
export const CRS_RULES_DIR = `${CRS_INSTALL_DIR}/rules`;
export const MODSECURITY_NGINX_MODULE = '/usr/lib/nginx/modules/ngx_http_modsecurity_module.so';

const INSTALL_HINT =
  'install the Debian packages nginx, libnginx-mod-http-modsecurity and modsecurity-crs ' +
  '(scripts/install-test-packages.sh does it as root)';

/**
 * CRS at paranoia level 1 in anomaly scoring mode with its default thresholds (crs-setup.conf
 * as Debian ships it), blocking (`SecRuleEngine On`), request bodies inspected; XML and JSON
 * bodies go through the XML and JSON body processors and a body that fails to parse is refused
 * (ModSecurity's recommended configuration, modsecurity.conf-recommended, does all three with
 * these rules).
 */
export const CRS_PL1_DIRECTIVES = `SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \\
  "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \\
  "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
Include @crs/crs-setup.conf
Include @crs/rules/*.conf
`;

/**
 * The directives with `@crs/` paths made absolute (nginx's ModSecurity knows no such prefix), as
 * the WAF filter resolves them: `@crs/crs-setup.conf` is the configuration directory's, any
 * other `@crs/x` is under the CRS install directory (`@crs/rules/*.conf`).
 */
export function resolveCrsPaths(directives: string): string {
  return directives.replace(/@crs\/(crs-setup\.conf)?/g, (_m, setup: string | undefined) =>
    setup !== undefined ? `${CRS_CONFIG_DIR}/${setup}` : `${CRS_INSTALL_DIR}/`,
  );
}

export interface NginxModSecurity {
  readonly port: number;
  readonly dir: string;
  /** nginx's error log (ModSecurity writes its denials there). */
  readonly errorLog: string;
  /**
   * ModSecurity's audit log (JSON, one transaction a line), or undefined when started without
   * `audit`; see auditedRules().
   */
  readonly auditLog: string | undefined;
  stop(): Promise<void>;
}

/** What ModSecurity's audit log says of one transaction. */
export interface AuditedTransaction {
  readonly status: number;
  /** Ids of the rules that matched, in order (949110 is the inbound anomaly score's denial). */
  readonly ruleIds: readonly string[];
}

interface AuditLine {
  transaction?: {
    client_port?: number;
    response?: { http_code?: number };
    messages?: { details?: { ruleId?: string } }[];
  };
}

/**
 * The audit log's transactions by client port (the runner records the local port of each
 * case's connection, which tells the cases apart while they run concurrently).
 */
export function auditedRules(auditLog: string): Map<number, AuditedTransaction> {
  const byPort = new Map<number, AuditedTransaction>();
  if (!fs.existsSync(auditLog)) return byPort;
  for (const line of fs.readFileSync(auditLog, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const t = (JSON.parse(line) as AuditLine).transaction;
    if (t?.client_port === undefined) continue;
    byPort.set(t.client_port, {
      status: t.response?.http_code ?? 0,
      ruleIds: (t.messages ?? []).flatMap((m) => (m.details?.ruleId ? [m.details.ruleId] : [])),
    });
  }
  return byPort;
}

/** Directives the reference adds after the rules when audited: every transaction, JSON. */
function auditDirectives(file: string): string {
  return `SecAuditEngine On
SecAuditLogFormat JSON
SecAuditLogType Serial
SecAuditLogParts ABHZ
SecAuditLog ${file}
`;
}

function nginxConf(dir: string, port: number, backendPort: number): string {
  return `load_module ${MODSECURITY_NGINX_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 16m;
  modsecurity on;
  modsecurity_rules_file ${dir}/modsecurity.conf;
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts nginx + ModSecurity proxying to 127.0.0.1:backendPort and resolves once it accepts
 * connections (loading the CRS takes a second or two). Fails with nginx's error log if it exits
 * first, and with what to install if a part is missing.
 */
export async function startNginxModSecurity(options: {
  backendPort: number;
  directives?: string;
  /** Write ModSecurity's audit log of every transaction (the rules each one matched). */
  audit?: boolean;
}): Promise<NginxModSecurity> {
  for (const file of [
    MODSECURITY_NGINX_MODULE,
    `${CRS_CONFIG_DIR}/crs-setup.conf`,
    CRS_RULES_DIR,
  ]) {
    if (!fs.existsSync(file)) throw new Error(`the WAF reference needs ${file}: ${INSTALL_HINT}`);
  }
  const dir = tempDir('nginx-modsec');
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const auditLog = options.audit === true ? path.join(dir, 'audit.log') : undefined;
  fs.writeFileSync(
    path.join(dir, 'modsecurity.conf'),
    resolveCrsPaths(options.directives ?? CRS_PL1_DIRECTIVES) +
      (auditLog !== undefined ? auditDirectives(auditLog) : ''),
  );
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, port, options.backendPort));
  const proc = trackProcess(
    spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  let failure: string | undefined;
  proc.once(
    'error',
    (err) => (failure = `nginx could not start (${err.message}): ${INSTALL_HINT}`),
  );
  proc.once('exit', (code) => {
    const log = fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '';
    failure ??= `nginx exited (${code}) before it listened:\n${output.join('')}${log}`;
  });
  // Polled with a bound; a start failure ends the wait at once.
  const deadline = Date.now() + 30_000;
  while (!(await listening(port))) {
    if (failure === undefined && Date.now() > deadline)
      failure = `nginx + ModSecurity did not listen on 127.0.0.1:${port} within 30 s`;
    if (failure !== undefined) {
      proc.kill('SIGKILL');
      throw new Error(failure);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    dir,
    errorLog,
    auditLog,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGQUIT');
      await exited;
    },
  };
}
