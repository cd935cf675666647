/**
 * IP addresses as bytes and CIDR ranges over them, for filter_chain_match's prefix_ranges,
 * source_prefix_ranges and direct_source_prefix_ranges. An address is parsed once per
 * connection; a range is parsed when a listener is compiled.
 */
import net from 'node:net';
import { unmapIpv4 } from './connection-properties.js';

/** An address's bytes: 4 (IPv4) or 16 (IPv6). */
export type IpBytes = Uint8Array;

/** A parsed CIDR range: the masked network bytes and the prefix length. */
export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefixLen: number;
}

function ipv4Bytes(address: string): IpBytes {
  return Uint8Array.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): IpBytes {
  const zone = address.indexOf('%');
  let text = zone >= 0 ? address.slice(0, zone) : address;
  const bytes = new Uint8Array(16);
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes its two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = ipv4Bytes(text.slice(lastColon + 1));
    const high = ((v4[0]! << 8) | v4[1]!).toString(16);
    const low = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? headGroups
      : [
          ...headGroups,
          ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'),
          ...tailGroups,
        ];
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * The bytes of an IP address; IPv4-mapped IPv6 addresses become IPv4 (a dual-stack listener
 * reports IPv4 clients that way). Undefined when `address` is not an IP address.
 */
export function parseIp(address: string): IpBytes | undefined {
  const plain = unmapIpv4(address);
  const family = net.isIP(plain);
  if (family === 4) return ipv4Bytes(plain);
  if (family === 6) return ipv6Bytes(plain);
  return undefined;
}

/** Zeroes every bit past `prefixLen`. */
function masked(bytes: IpBytes, prefixLen: number): IpBytes {
  const out = Uint8Array.from(bytes);
  for (let bit = prefixLen; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/** A CIDR range, or an error reason. */
export function parseCidr(address: string, prefixLen: number): Cidr | string {
  const bytes = parseIp(address);
  if (bytes === undefined) return `${JSON.stringify(address)} is not an IP address`;
  const maxLen = bytes.length * 8;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > maxLen)
    return `prefix_len ${prefixLen} is out of range for ${JSON.stringify(address)} (0-${maxLen})`;
  return { bytes: masked(bytes, prefixLen), prefixLen };
}

/** Whether `cidr` contains `ip` (addresses of the other family are never contained). */
export function cidrContains(cidr: Cidr, ip: IpBytes): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  const whole = cidr.prefixLen >> 3;
  for (let i = 0; i < whole; i++) if (cidr.bytes[i] !== ip[i]) return false;
  const rest = cidr.prefixLen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole]! & mask) === cidr.bytes[whole];
}

/** The network address of a range as text: dotted IPv4, or IPv6 with the longest zero run as "::". */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Loopback: 127.0.0.0/8 or ::1. */
export function isLoopback(ip: IpBytes): boolean {
  if (ip.length === 4) return ip[0] === 127;
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false;
  return ip[15] === 1;
}

export function sameIp(a: IpBytes, b: IpBytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
