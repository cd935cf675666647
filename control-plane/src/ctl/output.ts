/** Where a ferryctl command writes: its result on `out`, messages beside it on `err`. */
export interface Output {
  out(text: string): void;
  /** Messages beside the result (stdout stays machine-readable). */
  err?(text: string): void;
}
