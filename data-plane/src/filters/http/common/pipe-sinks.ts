/**
 * Where a ZlibPipe's output goes in the filter chain: DecodeSink for request bodies (injected
 * into the decode chain; the client is read-disabled while zlib's input queue is full),
 * EncodeSink for response bodies (injected into the encode chain; upstream reading pauses via
 * the encoder watermark callbacks). Trailers the filter held are released when the pipe
 * finishes; failures go to the filter that owns the pipe.
 */
import type { DecoderFilterCallbacks, EncoderFilterCallbacks } from '../filter.js';
import type { PipeSink } from './compression-streams.js';

export type PipeDirection = 'request' | 'response';

/** The filter that owns a pipe decides what a failure means for its stream. */
export interface PipeOwner {
  pipeFailed(direction: PipeDirection, reason: 'corrupt' | 'ratio', message: string): void;
}

export class DecodeSink implements PipeSink {
  constructor(
    private readonly callbacks: DecoderFilterCallbacks,
    private readonly owner: PipeOwner,
  ) {}

  output(data: Buffer, endStream: boolean): void {
    this.callbacks.injectDecodedDataToFilterChain(data, endStream);
  }

  finished(): void {
    this.callbacks.continueDecoding();
  }

  failed(reason: 'corrupt' | 'ratio', message: string): void {
    this.owner.pipeFailed('request', reason, message);
  }

  pauseSource(): void {
    this.callbacks.readDisable(true);
  }

  resumeSource(): void {
    this.callbacks.readDisable(false);
  }
}

export class EncodeSink implements PipeSink {
  constructor(
    private readonly callbacks: EncoderFilterCallbacks,
    private readonly owner: PipeOwner,
  ) {}

  output(data: Buffer, endStream: boolean): void {
    this.callbacks.injectEncodedDataToFilterChain(data, endStream);
  }

  finished(): void {
    this.callbacks.continueEncoding();
  }

  failed(reason: 'corrupt' | 'ratio', message: string): void {
    this.owner.pipeFailed('response', reason, message);
  }

  pauseSource(): void {
    this.callbacks.onEncoderFilterAboveWriteBufferHighWatermark();
  }

  resumeSource(): void {
    this.callbacks.onEncoderFilterBelowWriteBufferLowWatermark();
  }
}
