/**
 * Reads resource documents for `apply` and `diff`: files, directories (their *.yaml, *.yml and
 * *.json files, sorted by name, not recursive) and `-` for stdin; each file may hold several
 * YAML documents. Every document remembers where it came from, for error messages.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseDocuments } from '@ferry/proto';
import { CtlError, EXIT_REJECTED, EXIT_USAGE } from './ctl-error.js';

export interface SourcedDocument {
  readonly doc: unknown;
  /** `web.yaml document 2` */
  readonly source: string;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

export async function readDocuments(inputs: readonly string[]): Promise<SourcedDocument[]> {
  if (inputs.length === 0)
    throw new CtlError(EXIT_USAGE, 'no input: give -f FILE, -f DIR or -f - (stdin)');
  const files: string[] = [];
  for (const input of inputs) {
    if (input === '-') {
      files.push('-');
      continue;
    }
    const stat = await fs.stat(input).catch(() => undefined);
    if (!stat) throw new CtlError(EXIT_USAGE, `-f ${input}: no such file or directory`);
    if (stat.isDirectory()) {
      const names = (await fs.readdir(input)).filter((n) => CONFIG_FILE.test(n)).sort();
      files.push(...names.map((n) => path.join(input, n)));
    } else files.push(input);
  }
  const documents: SourcedDocument[] = [];
  const errors: string[] = [];
  for (const file of files) {
    const text = file === '-' ? await readStdin() : await fs.readFile(file, 'utf8');
    const label = file === '-' ? '<stdin>' : file;
    const parsed = parseDocuments(text, label);
    if (!parsed.ok) {
      errors.push(...parsed.errors);
      continue;
    }
    parsed.value.forEach((doc, i) => documents.push({ doc, source: `${label} document ${i + 1}` }));
  }
  if (errors.length > 0) throw new CtlError(EXIT_REJECTED, 'input is not valid YAML/JSON', errors);
  if (documents.length === 0)
    throw new CtlError(EXIT_USAGE, `no resource documents in ${inputs.join(', ')}`);
  return documents;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Adds `(from web.yaml document 2)` to server detail lines that start with `resources[N]`. */
export function annotateSources(
  details: readonly string[],
  documents: readonly SourcedDocument[],
): string[] {
  return details.map((line) => {
    const m = /^resources\[(\d+)\]/.exec(line);
    const source = m ? documents[Number(m[1])]?.source : undefined;
    return source ? `${line}  (${source})` : line;
  });
}
