/**
 * The compression libraries of the compressor and decompressor filters
 * (`compressor_library` / `decompressor_library`, envoy.config.core.v3.TypedExtensionConfig):
 * Envoy's gzip and brotli extensions, with Envoy's defaults, run by node:zlib
 * (compression-streams.ts). zstd is not supported (node:zlib of Node 20 has no zstd).
 */
import type {
  BrotliCompressorModel,
  CompressorLibraryModel,
  DecompressorLibraryModel,
  GzipCompressorModel,
} from '../../../config/model.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  str,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../../../config/translate-common.js';

const LIBRARY_SPEC = messageSpec(
  'envoy.config.core.v3.TypedExtensionConfig',
  {
    name: 'library name (stats)',
    typed_config: 'gzip or brotli (see below)',
  },
  'compressor_library, decompressor_library',
);

const GZIP_COMPRESSOR_SPEC = messageSpec('envoy.extensions.compression.gzip.compressor.v3.Gzip', {
  memory_level: 'default 5',
  compression_level: 'default DEFAULT_COMPRESSION (zlib level 6)',
  compression_strategy: 'default DEFAULT_STRATEGY',
  window_bits: 'default 12',
  chunk_size: 'output chunk size, default 4096',
});

const BROTLI_COMPRESSOR_SPEC = messageSpec(
  'envoy.extensions.compression.brotli.compressor.v3.Brotli',
  {
    quality: 'default 3',
    encoder_mode: 'default DEFAULT (generic)',
    window_bits: 'default 18',
    input_block_bits: 'default 24',
    chunk_size: 'output chunk size, default 4096',
    disable_literal_context_modeling: 'default false',
  },
);

const GZIP_DECOMPRESSOR_SPEC = messageSpec(
  'envoy.extensions.compression.gzip.decompressor.v3.Gzip',
  {
    window_bits: 'default 15',
    chunk_size: 'output chunk size, default 4096',
    max_inflate_ratio:
      'default 100: output beyond this many times the compressed input so far fails the stream',
  },
);

const BROTLI_DECOMPRESSOR_SPEC = messageSpec(
  'envoy.extensions.compression.brotli.decompressor.v3.Brotli',
  {
    disable_ring_buffer_reallocation: 'default false',
    chunk_size: 'output chunk size, default 4096',
  },
);

export const GZIP_COMPRESSOR_TYPE_URL = TYPE_URL_PREFIX + GZIP_COMPRESSOR_SPEC.message;
export const BROTLI_COMPRESSOR_TYPE_URL = TYPE_URL_PREFIX + BROTLI_COMPRESSOR_SPEC.message;
export const GZIP_DECOMPRESSOR_TYPE_URL = TYPE_URL_PREFIX + GZIP_DECOMPRESSOR_SPEC.message;
export const BROTLI_DECOMPRESSOR_TYPE_URL = TYPE_URL_PREFIX + BROTLI_DECOMPRESSOR_SPEC.message;

export const COMPRESSOR_LIBRARY_SPECS: readonly MessageSpec[] = [
  LIBRARY_SPEC,
  GZIP_COMPRESSOR_SPEC,
  BROTLI_COMPRESSOR_SPEC,
];
export const DECOMPRESSOR_LIBRARY_SPECS: readonly MessageSpec[] = [
  GZIP_DECOMPRESSOR_SPEC,
  BROTLI_DECOMPRESSOR_SPEC,
];

export const COMPRESSION_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'Compressor compressor_library',
    typeUrl: GZIP_COMPRESSOR_TYPE_URL,
    names: ['envoy.compression.gzip.compressor'],
    note: 'Content-Encoding gzip (node:zlib)',
  },
  {
    where: 'Compressor compressor_library',
    typeUrl: BROTLI_COMPRESSOR_TYPE_URL,
    names: ['envoy.compression.brotli.compressor'],
    note: 'Content-Encoding br (node:zlib)',
  },
  {
    where: 'Decompressor decompressor_library',
    typeUrl: GZIP_DECOMPRESSOR_TYPE_URL,
    names: ['envoy.compression.gzip.decompressor'],
    note: 'Content-Encoding gzip (node:zlib)',
  },
  {
    where: 'Decompressor decompressor_library',
    typeUrl: BROTLI_DECOMPRESSOR_TYPE_URL,
    names: ['envoy.compression.brotli.decompressor'],
    note: 'Content-Encoding br (node:zlib)',
  },
];

const GZIP_LEVELS: Readonly<Record<string, number>> = {
  DEFAULT_COMPRESSION: -1,
  BEST_SPEED: 1,
  BEST_COMPRESSION: 9,
  ...Object.fromEntries(
    Array.from({ length: 9 }, (_, i) => [`COMPRESSION_LEVEL_${i + 1}`, i + 1] as const),
  ),
};

const GZIP_STRATEGIES = ['DEFAULT_STRATEGY', 'FILTERED', 'HUFFMAN_ONLY', 'RLE', 'FIXED'] as const;
const BROTLI_MODES = ['DEFAULT', 'GENERIC', 'TEXT', 'FONT'] as const;

/** Envoy's default chunk_size of every library. */
const DEFAULT_CHUNK_SIZE = 4096;
/** Envoy's default (and, for brotli, fixed) max_inflate_ratio. */
export const DEFAULT_MAX_INFLATE_RATIO = 100;

interface Library<T> {
  readonly name: string;
  readonly library: T;
}

function library(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): { name: string; typeUrl: string; config: JsonObject; configPath: string } | undefined {
  if (obj === undefined) {
    issues.add(path, 'is required');
    return undefined;
  }
  checkFields(obj, LIBRARY_SPEC, path, issues);
  const config = asObject(obj.typed_config) ?? {};
  return {
    name: str(obj.name),
    typeUrl: str(config['@type']),
    config,
    configPath: join(path, 'typed_config'),
  };
}

function unsupported(typeUrl: string, path: string, issues: Issues, supported: string): void {
  issues.add(
    path,
    `${typeUrl.slice(typeUrl.lastIndexOf('/') + 1) || 'an empty typed_config'} is ${NOT_SUPPORTED} (supported: ${supported})`,
  );
}

export function compressorLibrary(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): Library<CompressorLibraryModel> {
  const lib = library(obj, path, issues);
  const fallback: GzipCompressorModel = {
    kind: 'gzip',
    level: -1,
    strategy: 'DEFAULT_STRATEGY',
    memoryLevel: 5,
    windowBits: 12,
    chunkSize: DEFAULT_CHUNK_SIZE,
  };
  if (lib === undefined) return { name: '', library: fallback };
  const { config, configPath } = lib;
  if (lib.typeUrl === GZIP_COMPRESSOR_TYPE_URL) {
    checkFields(config, GZIP_COMPRESSOR_SPEC, configPath, issues);
    const level = str(config.compression_level, 'DEFAULT_COMPRESSION');
    return {
      name: lib.name,
      library: {
        kind: 'gzip',
        level: GZIP_LEVELS[level] ?? -1,
        strategy: enumField(
          config.compression_strategy,
          GZIP_STRATEGIES,
          'DEFAULT_STRATEGY',
          join(configPath, 'compression_strategy'),
          issues,
        ),
        memoryLevel: int(config.memory_level, 5),
        windowBits: int(config.window_bits, 12),
        chunkSize: int(config.chunk_size, DEFAULT_CHUNK_SIZE),
      },
    };
  }
  if (lib.typeUrl === BROTLI_COMPRESSOR_TYPE_URL) {
    checkFields(config, BROTLI_COMPRESSOR_SPEC, configPath, issues);
    const brotli: BrotliCompressorModel = {
      kind: 'brotli',
      quality: int(config.quality, 3),
      mode: enumField(
        config.encoder_mode,
        BROTLI_MODES,
        'DEFAULT',
        join(configPath, 'encoder_mode'),
        issues,
      ),
      windowBits: int(config.window_bits, 18),
      inputBlockBits: int(config.input_block_bits, 24),
      chunkSize: int(config.chunk_size, DEFAULT_CHUNK_SIZE),
      disableLiteralContextModeling: bool(config.disable_literal_context_modeling, false),
    };
    return { name: lib.name, library: brotli };
  }
  unsupported(
    lib.typeUrl,
    configPath,
    issues,
    'envoy.compression.gzip.compressor, envoy.compression.brotli.compressor',
  );
  return { name: lib.name, library: fallback };
}

export function decompressorLibrary(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): Library<DecompressorLibraryModel> {
  const lib = library(obj, path, issues);
  const fallback: DecompressorLibraryModel = {
    kind: 'gzip',
    windowBits: 15,
    chunkSize: DEFAULT_CHUNK_SIZE,
    maxInflateRatio: DEFAULT_MAX_INFLATE_RATIO,
  };
  if (lib === undefined) return { name: '', library: fallback };
  const { config, configPath } = lib;
  if (lib.typeUrl === GZIP_DECOMPRESSOR_TYPE_URL) {
    checkFields(config, GZIP_DECOMPRESSOR_SPEC, configPath, issues);
    return {
      name: lib.name,
      library: {
        kind: 'gzip',
        windowBits: int(config.window_bits, 15),
        chunkSize: int(config.chunk_size, DEFAULT_CHUNK_SIZE),
        maxInflateRatio: int(config.max_inflate_ratio, DEFAULT_MAX_INFLATE_RATIO),
      },
    };
  }
  if (lib.typeUrl === BROTLI_DECOMPRESSOR_TYPE_URL) {
    checkFields(config, BROTLI_DECOMPRESSOR_SPEC, configPath, issues);
    return {
      name: lib.name,
      library: {
        kind: 'brotli',
        chunkSize: int(config.chunk_size, DEFAULT_CHUNK_SIZE),
        disableRingBufferReallocation: bool(config.disable_ring_buffer_reallocation, false),
        maxInflateRatio: DEFAULT_MAX_INFLATE_RATIO,
      },
    };
  }
  unsupported(
    lib.typeUrl,
    configPath,
    issues,
    'envoy.compression.gzip.decompressor, envoy.compression.brotli.decompressor',
  );
  return { name: lib.name, library: fallback };
}
