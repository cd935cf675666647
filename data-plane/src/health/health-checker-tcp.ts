/**
 * TCP health check (HealthCheck.TcpHealthCheck): connect (over TLS when the cluster has an
 * UpstreamTlsContext, as Envoy's transport socket does); with a `send` payload write it; with
 * `receive` payloads, healthy once every one of them has been seen in the response in order
 * (Envoy's fuzzy match); without, healthy as soon as the connection is up.
 */
import type { Socket } from 'node:net';
import type { TcpHealthCheckModel } from '../config/model.js';
import {
  HEALTHY,
  networkFailure,
  openCheckConnection,
  type CheckOutcome,
  type HealthChecker,
  type HealthCheckTarget,
} from './health-checker.js';

export class TcpHealthChecker implements HealthChecker {
  readonly #send: Buffer;
  readonly #receive: readonly Buffer[];

  constructor(model: TcpHealthCheckModel) {
    this.#send = Buffer.from(model.sendHex, 'hex');
    this.#receive = model.receiveHex.map((hex) => Buffer.from(hex, 'hex'));
  }

  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome> {
    return openCheckConnection(target, undefined, signal).then(
      (socket) => this.#exchange(socket, signal),
      (err: Error) => networkFailure(err.message),
    );
  }

  #exchange(socket: Socket, signal: AbortSignal): Promise<CheckOutcome> {
    return new Promise((resolve) => {
      let received = Buffer.alloc(0);
      const finish = (outcome: CheckOutcome): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(outcome);
      };
      const onAbort = (): void => finish(networkFailure('timed out'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (containsInOrder(received, this.#receive)) finish(HEALTHY);
      });
      socket.on('error', (err) => finish(networkFailure(err.message)));
      socket.on('close', () =>
        finish(networkFailure('connection closed before the expected response')),
      );
      if (this.#send.length > 0) socket.write(this.#send);
      if (this.#receive.length === 0) finish(HEALTHY);
    });
  }
}

/** Whether every payload occurs in `data`, each after the previous one. */
export function containsInOrder(data: Buffer, payloads: readonly Buffer[]): boolean {
  let from = 0;
  for (const payload of payloads) {
    const at = data.indexOf(payload, from);
    if (at < 0) return false;
    from = at + payload.length;
  }
  return true;
}
