/** An Envoy Locality as LRS reports it, and the map key load keeping uses for it. */
export interface LocalityKey {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** A key equal for equal localities, whatever their field values contain. */
export function localityId(l: LocalityKey): string {
  return JSON.stringify([l.region, l.zone, l.subZone]);
}
