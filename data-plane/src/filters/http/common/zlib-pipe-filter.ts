/**
 * The body side of the filters that run bodies through zlib (compressor, decompressor): once a
 * filter's headers callback opened a pipe for a direction, every data chunk goes into it and the
 * pipe's sink injects the output further down the chain ('stop-no-buffer'); the end of the body
 * (or trailers, which wait for the output) finishes it. Without a pipe the bytes pass as they are.
 */
import type { FilterDataStatus, FilterTrailersStatus } from '../filter.js';
import type { ZlibPipe } from './compression-streams.js';

export abstract class ZlibPipeFilter {
  /** The request body's pipe, opened by decodeHeaders when the filter acts on it. */
  protected requestPipe: ZlibPipe | undefined;
  /** The response body's pipe, opened by encodeHeaders when the filter acts on it. */
  protected responsePipe: ZlibPipe | undefined;

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    return pipeData(this.requestPipe, data, endStream);
  }

  decodeTrailers(): FilterTrailersStatus {
    // The trailers wait until the transformed body is out (the sink's `finished` continues).
    return pipeTrailers(this.requestPipe);
  }

  encodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    return pipeData(this.responsePipe, data, endStream);
  }

  encodeTrailers(): FilterTrailersStatus {
    return pipeTrailers(this.responsePipe);
  }
}

function pipeData(pipe: ZlibPipe | undefined, data: Buffer, endStream: boolean): FilterDataStatus {
  if (pipe === undefined) return 'continue';
  pipe.write(data);
  if (endStream) pipe.finish(true);
  return 'stop-no-buffer';
}

function pipeTrailers(pipe: ZlibPipe | undefined): FilterTrailersStatus {
  if (pipe === undefined) return 'continue';
  pipe.finish(false);
  return 'stop';
}
