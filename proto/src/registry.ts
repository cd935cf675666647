/**
 * The descriptor registry: every Envoy v3 message that compiles from the pinned
 * @grpc/grpc-js-xds deps/ folders plus Ferry's own protos, built at build time by
 * scripts/build-descriptors.mjs. Loaded once per process (~150 ms), on first use.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createFileRegistry,
  fromBinary,
  type DescMessage,
  type FileRegistry,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

const DESCRIPTORS = fileURLToPath(new URL('../gen/descriptors.binpb', import.meta.url));

let registry: FileRegistry | undefined;

export function protoRegistry(): FileRegistry {
  if (!registry) {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(DESCRIPTORS);
    } catch (err) {
      throw new Error(
        `proto: cannot read ${DESCRIPTORS} (${(err as Error).message}); run \`pnpm build\` to generate it`,
      );
    }
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  }
  return registry;
}

export function messageSchema(typeName: string): DescMessage | undefined {
  return protoRegistry().getMessage(typeName);
}

export function requireMessageSchema(typeName: string): DescMessage {
  const desc = messageSchema(typeName);
  if (!desc) throw new Error(`proto: message type ${typeName} is not in the descriptor set`);
  return desc;
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → the message descriptor, if known. */
export function messageSchemaForTypeUrl(typeUrl: string): DescMessage | undefined {
  const slash = typeUrl.lastIndexOf('/');
  return messageSchema(slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl);
}
