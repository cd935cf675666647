/**
 * gRPC service definitions (ADS, the per-type xDS services, CSDS, HDS, LRS, Ferry's management API), loaded
 * with @grpc/proto-loader from the same pinned proto sources as the descriptor registry. Resources
 * cross this boundary as `{ type_url, value: Buffer }` so each is encoded once per version.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import type { GrpcObject, ServiceDefinition } from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';

const require = createRequire(import.meta.url);

function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export function protoIncludeDirs(): string[] {
  const deps = path.join(packageDir('@grpc/grpc-js-xds'), 'deps');
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    fileURLToPath(new URL('..', import.meta.url)),
  ];
}

export const XDS_SERVICE_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/status/v3/csds.proto',
  'envoy/service/health/v3/hds.proto',
  'envoy/service/load_stats/v3/lrs.proto',
];

export const MANAGEMENT_SERVICE_FILE = 'ferry/v1/management.proto';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: GrpcObject | undefined;

/** All service packages, loaded once per process. */
export function grpcPackages(): GrpcObject {
  cached ??= loadPackageDefinition(
    protoLoader.loadSync([...XDS_SERVICE_FILES, MANAGEMENT_SERVICE_FILE], {
      ...LOADER_OPTIONS,
      includeDirs: protoIncludeDirs(),
    }),
  );
  return cached;
}

/** Looks up `envoy.service.discovery.v3.AggregatedDiscoveryService` and similar. */
export function serviceDefinition(fullName: string): ServiceDefinition {
  let node: any = grpcPackages();
  for (const part of fullName.split('.')) node = node?.[part];
  if (!node?.service) throw new Error(`proto: gRPC service ${fullName} not found`);
  return node.service as ServiceDefinition;
}

/** A client constructor for a service, e.g. for tests and ferryctl. */
export function serviceClient(fullName: string): any {
  let node: any = grpcPackages();
  for (const part of fullName.split('.')) node = node?.[part];
  if (typeof node !== 'function') throw new Error(`proto: gRPC service ${fullName} not found`);
  return node;
}
