/**
 * A proxy's identity as the access policy sees it: the SAN URIs and DNS names of the client
 * certificate the TLS handshake verified (docs/architecture.md, "Who may connect"). Other SAN
 * kinds (IP addresses, e-mail, directory names) never identify a proxy.
 */

/**
 * SAN URIs and DNS names from Node's `subjectaltname` string ("DNS:a, URI:spiffe://x"). Node
 * writes a value that contains a separator or a quote as a JSON string (`URI:"a, b"`), which is
 * decoded here so that a comma inside a URI cannot split it into two identities.
 */
export function identitiesFromSubjectAltName(subjectAltName: string | undefined): string[] {
  const out: string[] = [];
  if (!subjectAltName) return out;
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon < 0) break;
    const kind = subjectAltName.slice(i, colon);
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
    if (kind === 'URI' || kind === 'DNS') out.push(value);
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
