/**
 * gRPC service definitions (ADS, the per-type xDS services, CSDS, HDS, LRS, RLS, Ferry's management API), loaded
 * with @grpc/proto-loader from the same pinned proto sources as the descriptor registry. Resources
 * cross this boundary as `{ type_url, value: Buffer }` so each is encoded once per version.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import {
  loadPackageDefinition,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientDuplexStream,
  type GrpcObject,
  type MethodDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';

export type * from './grpc-messages.js';

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
  'envoy/service/ratelimit/v3/rls.proto',
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

/** A client constructor for a service, e.g. `envoy.service.discovery.v3.AggregatedDiscoveryService`. */
export function serviceClient(fullName: string): ServiceClientConstructor {
  let node: GrpcObject[string] | undefined = grpcPackages();
  for (const part of fullName.split('.')) {
    // A constructor is a leaf: a name below it is no service.
    if (node === undefined || typeof node === 'function') return missing(fullName);
    node = (node as GrpcObject)[part];
  }
  return typeof node === 'function' ? node : missing(fullName);
}

function missing(fullName: string): never {
  throw new Error(`proto: gRPC service ${fullName} not found`);
}

/** The method definitions of a service, for servers (`addService`) and codecs. */
export function serviceDefinition(fullName: string): ServiceDefinition {
  return serviceClient(fullName).service;
}

/**
 * A client of one service whose methods are called by name, with the message types the caller
 * names (grpc-messages.ts): proto-loader's clients have no static types of their own.
 */
export class GrpcClient {
  readonly #client: Client;
  readonly #service: ServiceDefinition;
  readonly #name: string;

  constructor(
    fullName: string,
    target: string,
    credentials: ChannelCredentials,
    options?: ChannelOptions,
  ) {
    const Constructor = serviceClient(fullName);
    this.#client = new Constructor(target, credentials, options);
    this.#service = Constructor.service;
    this.#name = fullName;
  }

  /** Opens a bidirectional stream of `method`. */
  stream<Request, Response>(
    method: string,
    metadata: Metadata = new Metadata(),
    options: CallOptions = {},
  ): ClientDuplexStream<Request, Response> {
    const definition = this.#method<Request, Response>(method);
    return this.#client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      metadata,
      options,
    );
  }

  /** Calls a unary `method`; rejects with the call's ServiceError. */
  unary<Request, Response>(
    method: string,
    request: Request,
    metadata: Metadata = new Metadata(),
    options: CallOptions = {},
  ): Promise<Response> {
    const definition = this.#method<Request, Response>(method);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        metadata,
        options,
        (err: ServiceError | null, response?: Response) =>
          err || response === undefined
            ? reject(err ?? new Error('no response'))
            : resolve(response),
      );
    });
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    this.#client.close();
  }

  #method<Request, Response>(method: string): MethodDefinition<Request, Response> {
    const definition = this.#service[method];
    if (!definition) throw new Error(`proto: gRPC service ${this.#name} has no method ${method}`);
    return definition as MethodDefinition<Request, Response>;
  }
}
