/**
 * envoy.filters.http.router (being moved here from http/forwarder.ts).
 */
import type { FilterCallbacks, FilterHeadersStatus, StreamFilter } from '../filter.js';

export class RouterFilter implements StreamFilter {
  constructor(private readonly callbacks: FilterCallbacks) {}

  decodeHeaders(): FilterHeadersStatus {
    this.callbacks.sendLocalReply(500, 'router: work in progress');
    return 'stop';
  }
}
