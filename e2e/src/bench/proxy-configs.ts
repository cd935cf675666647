/**
 * Configuration files for the HTTP proxy benchmark (proxy-bench.ts): the nginx backend, and the
 * three proxies in front of it set up alike: HTTP/1.1 keep-alive on both sides, no access log,
 * the same number of workers.
 */

/** Response bodies the backend serves, by URL path. */
export const BODIES = { small: 100, large: 64 * 1024 } as const;
export type BodySize = keyof typeof BODIES;

export interface ProxyConfigInput {
  readonly listenPort: number;
  readonly backendPort: number;
  readonly workers: number;
  /** The temp dir the proxy may write into (pid, logs, state). */
  readonly dir: string;
}

/** nginx's `user` directive only applies (and is only needed) when the master runs as root. */
function userLine(): string {
  return process.getuid?.() === 0 ? 'user root root;\n' : '';
}

/** The fixed backend: nginx serving /small and /large from `docroot`, one worker. */
export function backendNginxConf(port: number, docroot: string, dir: string): string {
  return `${userLine()}worker_processes 1;
pid ${dir}/backend.pid;
error_log ${dir}/backend-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  open_file_cache max=16;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    root ${docroot};
    location / { }
  }
}
`;
}

/** nginx as a reverse proxy with upstream keep-alive. */
export function proxyNginxConf(input: ProxyConfigInput): string {
  return `${userLine()}worker_processes ${input.workers};
pid ${input.dir}/proxy-nginx.pid;
error_log ${input.dir}/proxy-nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream backend {
    server 127.0.0.1:${input.backendPort};
    keepalive 128;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${input.listenPort} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** HAProxy in http mode, one process with `nbthread = workers`, server-side keep-alive. */
export function haproxyConf(input: ProxyConfigInput): string {
  return `global
  nbthread ${input.workers}
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend bench
  bind 127.0.0.1:${input.listenPort}
  default_backend backend
backend backend
  server b1 127.0.0.1:${input.backendPort} maxconn 1000
`;
}

/**
 * ferry-proxy's static bootstrap, as an Envoy user would write it: one listener with an HCM
 * (router filter, a virtual host routing `/` to the cluster) and a STATIC cluster.
 */
export function ferryBootstrap(input: ProxyConfigInput & { readonly adminPort: number }): object {
  return {
    node: { id: 'bench-proxy', cluster: 'bench' },
    admin: {
      address: { socket_address: { address: '127.0.0.1', port_value: input.adminPort } },
    },
    static_resources: {
      listeners: [
        {
          name: 'bench',
          address: { socket_address: { address: '127.0.0.1', port_value: input.listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'bench',
                    codec_type: 'AUTO',
                    route_config: {
                      name: 'bench',
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                        },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'backend',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'backend',
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: {
                        socket_address: { address: '127.0.0.1', port_value: input.backendPort },
                      },
                    },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}
