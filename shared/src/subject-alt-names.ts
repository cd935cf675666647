/**
 * Subject alternative names of a peer certificate, parsed from Node's `subjectaltname` string
 * ("DNS:a, URI:spiffe://x, IP Address:127.0.0.1"). Node writes a value that contains a separator
 * or a quote as a JSON string (`URI:"a, b"`); it is decoded here, so a comma inside a URI cannot
 * split it into two names. Used by the control plane (a proxy's identity) and by ferry-proxy (the
 * control plane's certificate).
 */

export interface SubjectAltName {
  /** As Node names it: "DNS", "URI", "IP Address", "email", "DirName", "othername", ... */
  readonly type: string;
  readonly value: string;
}

export function subjectAltNames(subjectAltName: string | undefined): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  if (!subjectAltName) return out;
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon < 0) break;
    const type = subjectAltName.slice(i, colon);
    let value: string;
    let end: number;
    if (subjectAltName[colon + 1] === '"') {
      end = closingQuote(subjectAltName, colon + 2);
      try {
        value = JSON.parse(subjectAltName.slice(colon + 1, end + 1)) as string;
      } catch {
        return out;
      }
      end += 1;
    } else {
      end = subjectAltName.indexOf(', ', colon + 1);
      if (end < 0) end = subjectAltName.length;
      value = subjectAltName.slice(colon + 1, end);
    }
    out.push({ type, value });
    i = end + 2;
  }
  return out;
}

function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length;
}
