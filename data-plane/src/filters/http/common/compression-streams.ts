/**
 * Body (de)compression for the compressor and decompressor filters: node:zlib streams built
 * from the library models (compression-config.ts), and ZlibPipe, which runs one direction of
 * one HTTP stream through such a stream for a filter that owns its body chunks
 * ('stop-no-buffer') and injects the output back into the filter chain.
 *
 * node:zlib works on the libuv thread pool, so output arrives asynchronously, in order. The
 * pipe keeps the filter chain's contract: output chunks are handed on in order, the last one
 * carries end of stream (an empty chunk only when zlib had nothing left to write), and nothing
 * is handed on after an error or destroy.
 */
import zlib from 'node:zlib';
import type { CompressorLibraryModel, DecompressorLibraryModel } from '../../../config/model.js';

/** A compressor stream and how to flush it after each body chunk (Envoy's Flush state). */
export interface CompressorStream {
  readonly stream: zlib.Gzip | zlib.BrotliCompress;
  readonly flushKind: number;
}

const GZIP_STRATEGY: Readonly<Record<string, number>> = {
  DEFAULT_STRATEGY: zlib.constants.Z_DEFAULT_STRATEGY,
  FILTERED: zlib.constants.Z_FILTERED,
  HUFFMAN_ONLY: zlib.constants.Z_HUFFMAN_ONLY,
  RLE: zlib.constants.Z_RLE,
  FIXED: zlib.constants.Z_FIXED,
};

const BROTLI_MODE: Readonly<Record<string, number>> = {
  DEFAULT: zlib.constants.BROTLI_DEFAULT_MODE,
  GENERIC: zlib.constants.BROTLI_MODE_GENERIC,
  TEXT: zlib.constants.BROTLI_MODE_TEXT,
  FONT: zlib.constants.BROTLI_MODE_FONT,
};

/** The Content-Encoding token a library produces or reads. */
export function contentEncodingOf(
  library: CompressorLibraryModel | DecompressorLibraryModel,
): string {
  return library.kind === 'gzip' ? 'gzip' : 'br';
}

export function createCompressor(library: CompressorLibraryModel): CompressorStream {
  if (library.kind === 'gzip') {
    return {
      stream: zlib.createGzip({
        level: library.level,
        strategy: GZIP_STRATEGY[library.strategy],
        memLevel: library.memoryLevel,
        windowBits: library.windowBits,
        chunkSize: library.chunkSize,
      }),
      flushKind: zlib.constants.Z_SYNC_FLUSH,
    };
  }
  return {
    stream: zlib.createBrotliCompress({
      chunkSize: library.chunkSize,
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: library.quality,
        [zlib.constants.BROTLI_PARAM_MODE]: BROTLI_MODE[library.mode]!,
        [zlib.constants.BROTLI_PARAM_LGWIN]: library.windowBits,
        [zlib.constants.BROTLI_PARAM_LGBLOCK]: library.inputBlockBits,
        [zlib.constants.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]:
          library.disableLiteralContextModeling ? 1 : 0,
      },
    }),
    flushKind: zlib.constants.BROTLI_OPERATION_FLUSH,
  };
}

export function createDecompressor(
  library: DecompressorLibraryModel,
): zlib.Gunzip | zlib.BrotliDecompress {
  if (library.kind === 'gzip')
    return zlib.createGunzip({ windowBits: library.windowBits, chunkSize: library.chunkSize });
  return zlib.createBrotliDecompress({
    chunkSize: library.chunkSize,
    params: {
      [zlib.constants.BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION]:
        library.disableRingBufferReallocation ? 1 : 0,
    },
  });
}

/** Where a pipe delivers, implemented by the filter for one direction. */
export interface PipeSink {
  /** Output in order; `endStream` only on the last call, and only if finish(true) was called. */
  output(data: Buffer, endStream: boolean): void;
  /** The pipe finished (all output delivered) after finish(false): trailers may now go on. */
  finished(): void;
  /** The input is corrupt, or (decompression) the output outgrew its ratio. Nothing follows. */
  failed(reason: 'corrupt' | 'ratio', message: string): void;
  /** Input queued in zlib went above / came back below its limit (stop / resume the source). */
  pauseSource(): void;
  resumeSource(): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * One direction of one HTTP stream through a zlib transform. `flushKind` flushes after every
 * chunk so compressed output streams out as the input does (Envoy flushes per data frame);
 * `maxInflateRatio` bounds decompressed output against the compressed input so far.
 */
export class ZlibPipe {
  readonly #stream: zlib.Gzip | zlib.BrotliCompress | zlib.Gunzip | zlib.BrotliDecompress;
  readonly #sink: PipeSink;
  readonly #flushKind: number | undefined;
  readonly #maxInflateRatio: number | undefined;
  #inputBytes = 0;
  #outputBytes = 0;
  #endStream = false;
  /** finish() was called: output is held back one chunk so the last carries end of stream. */
  #finishing = false;
  #held: Buffer | undefined;
  #paused = false;
  #done = false;

  constructor(
    stream: zlib.Gzip | zlib.BrotliCompress | zlib.Gunzip | zlib.BrotliDecompress,
    sink: PipeSink,
    options: { readonly flushKind?: number; readonly maxInflateRatio?: number } = {},
  ) {
    this.#stream = stream;
    this.#sink = sink;
    this.#flushKind = options.flushKind;
    this.#maxInflateRatio = options.maxInflateRatio;
    stream.on('data', this.#onData);
    stream.once('end', this.#onEnd);
    stream.once('error', this.#onError);
    stream.on('drain', this.#onDrain);
  }

  get inputBytes(): number {
    return this.#inputBytes;
  }

  get outputBytes(): number {
    return this.#outputBytes;
  }

  write(data: Buffer): void {
    if (this.#done || data.length === 0) return;
    this.#inputBytes += data.length;
    let below = this.#stream.write(data);
    if (this.#flushKind !== undefined) {
      this.#stream.flush(this.#flushKind);
      below = this.#stream.writableLength < this.#stream.writableHighWaterMark;
    }
    if (!below && !this.#paused) {
      this.#paused = true;
      this.#sink.pauseSource();
    }
  }

  /** No more input; `endStream`: the last output ends the stream (no trailers follow). */
  finish(endStream: boolean): void {
    if (this.#done || this.#finishing) return;
    this.#endStream = endStream;
    this.#finishing = true;
    this.#stream.end();
  }

  /** Stops now (stream reset or filter destroyed); nothing more is delivered. */
  destroy(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stream.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#done) return;
    this.#outputBytes += chunk.length;
    const ratio = this.#maxInflateRatio;
    if (ratio !== undefined && this.#outputBytes > ratio * this.#inputBytes) {
      this.#fail(
        'ratio',
        `decompressed output exceeds ${ratio} times the ${this.#inputBytes} compressed bytes`,
      );
      return;
    }
    if (!this.#finishing) {
      this.#sink.output(chunk, false);
      return;
    }
    const previous = this.#held;
    this.#held = chunk;
    if (previous !== undefined) this.#sink.output(previous, false);
  };

  readonly #onEnd = (): void => {
    if (this.#done) return;
    this.#done = true;
    if (this.#paused) this.#sink.resumeSource();
    const last = this.#held ?? EMPTY;
    this.#held = undefined;
    if (this.#endStream) {
      this.#sink.output(last, true);
      return;
    }
    if (last.length > 0) this.#sink.output(last, false);
    this.#sink.finished();
  };

  readonly #onError = (error: Error): void => {
    this.#fail('corrupt', error.message);
  };

  readonly #onDrain = (): void => {
    if (this.#done || !this.#paused) return;
    this.#paused = false;
    this.#sink.resumeSource();
  };

  #fail(reason: 'corrupt' | 'ratio', message: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#stream.destroy();
    if (this.#paused) this.#sink.resumeSource();
    this.#sink.failed(reason, message);
  }
}
