/**
 * The XML request body processor: what ModSecurity v3 (libxml2 underneath, external entities
 * not loaded) makes of an XML body, for the two XPath selectors CRS reads:
 *
 * - `XML:/*`: the root element's text content, one value: the text and CDATA sections of every
 *   descendant in document order, character and entity references replaced, whitespace kept
 *   (libxml2's xmlNodeGetContent of the root). Comments and processing instructions are not text.
 * - `XML://@*`: every attribute value in document order, normalised as XML 1.0 section 3.3.3
 *   says (tab and line feed become spaces). Namespace declarations (`xmlns`, `xmlns:p`) are not
 *   attributes in XPath's model and are left out.
 *
 * The parse is a non-validating well-formedness check; a body that is not well-formed is
 * reported as an error (REQBODY_ERROR), as libxml2 does. Work is bounded by the body's size:
 * nothing is ever fetched (a reference to an external entity yields no text, an external DTD is
 * not read), and internal entities declared in the document's own DTD expand within a budget of
 * EXPANSION_FACTOR times the body plus EXPANSION_SLACK characters for the whole document; a body
 * that needs more (a "billion laughs" bomb) is refused as malformed, as libxml2 refuses such
 * amplification. Elements nest at most MAX_DEPTH deep, entity references MAX_ENTITY_DEPTH deep.
 */

import { TextDecoder } from 'node:util';

export interface XmlBody {
  /**
   * The root element's text content as UTF-8 bytes in a latin1 string (the engine's byte
   * strings); undefined when no root element was reached.
   */
  readonly text: string | undefined;
  /** Attribute values (UTF-8 bytes in latin1 strings), in document order. */
  readonly attributes: readonly string[];
  /** Why the body is not well-formed XML (undefined when it is). */
  readonly error: string | undefined;
}

/** Characters of entity expansion allowed per character of body (libxml2's factor too). */
export const EXPANSION_FACTOR = 10;
/** Characters of entity expansion allowed in any document, however short. */
export const EXPANSION_SLACK = 65536;
/** Element nesting depth (libxml2 2.9 without XML_PARSE_HUGE refuses the 258th level). */
export const MAX_DEPTH = 257;
/** Entity references within entity replacement texts (libxml2's limit). */
export const MAX_ENTITY_DEPTH = 40;

class XmlError extends Error {}

/** What an entity's replacement text is parsed as. */
const enum Expansion {
  Content,
  Attribute,
  Declarations,
}

interface Entity {
  /** Replacement text (character references already replaced); undefined: external. */
  readonly value: string | undefined;
}

/** What one document's parse shares between the scanners of its entity replacement texts. */
interface Context {
  readonly general: Map<string, Entity>;
  readonly parameter: Map<string, Entity>;
  /** Characters of entity expansion left. */
  budget: number;
  /**
   * A reference to an undeclared entity is only an error when the whole DTD was seen, or the
   * document says it is standalone.
   */
  dtdIncomplete: boolean;
  standalone: boolean;
  depth: number;
  entityDepth: number;
  readonly expanding: Set<string>;
  readonly text: string[];
  readonly attributes: string[];
  rootStarted: boolean;
}

const PREDEFINED: ReadonlyMap<string, string> = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['apos', "'"],
  ['quot', '"'],
]);

/**
 * XML names: ASCII exactly as XML 1.0 has them; beyond ASCII any character from U+00C0 on
 * (U+00B7 on after the first), XML 1.0 fifth edition's NameChar ranges loosened: a few symbols
 * they exclude pass.
 */
function nameStart(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0xc0
  );
}
function nameChar(c: number): boolean {
  return nameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0xb7;
}
/** The length of the name at s[pos] (0: none). */
function nameLength(s: string, pos: number): number {
  if (pos >= s.length || !nameStart(s.charCodeAt(pos))) return 0;
  let i = pos + 1;
  while (i < s.length && nameChar(s.charCodeAt(i))) i++;
  return i - pos;
}

/** The first character XML 1.0 does not allow (lone surrogates cannot survive decoding). */
function invalidCharAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff)
      return i;
  }
  return -1;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;

function validCodePoint(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** UTF-8 bytes of `s` as a latin1 string (the engine inspects bytes, as ModSecurity does). */
function toBytes(s: string): string {
  for (let i = 0; i < s.length; i++)
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
}

/**
 * The body as text: a byte order mark, else the XML declaration's encoding, else UTF-8 (XML's
 * default); bytes that are not valid in that encoding make the body malformed.
 */
function decode(body: Buffer): string {
  let label = 'utf-8';
  let start = 0;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3;
  else if (body[0] === 0xfe && body[1] === 0xff) label = 'utf-16be';
  else if (body[0] === 0xff && body[1] === 0xfe) label = 'utf-16le';
  else {
    const head = body.subarray(0, 256).toString('latin1');
    const m =
      /^<\?xml[\x20\t\r\n][^>]*?encoding[\x20\t\r\n]*=[\x20\t\r\n]*(["'])([A-Za-z][\w.-]*)\1/.exec(
        head,
      );
    if (m !== null) label = m[2]!.toLowerCase();
  }
  if (/^(iso[-_]?8859-1|latin-?1|l1)$/.test(label)) return body.toString('latin1');
  if (/^(us-)?ascii$/.test(label)) {
    for (const b of body)
      if (b > 0x7f) throw new XmlError('a byte above 0x7f in an US-ASCII document');
    return body.toString('latin1');
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label === 'utf8' ? 'utf-8' : label, { fatal: true });
  } catch {
    throw new XmlError(`unsupported encoding ${label}`);
  }
  try {
    return decoder.decode(start > 0 ? body.subarray(start) : body);
  } catch {
    throw new XmlError(`the body is not valid ${label}`);
  }
}

/** Parses one XML body; never throws. */
export function parseXmlBody(body: Buffer): XmlBody {
  const ctx: Context = {
    general: new Map(),
    parameter: new Map(),
    budget: EXPANSION_FACTOR * body.length + EXPANSION_SLACK,
    dtdIncomplete: false,
    standalone: false,
    depth: 0,
    entityDepth: 0,
    expanding: new Set(),
    text: [],
    attributes: [],
    rootStarted: false,
  };
  let scanner: Scanner | undefined;
  let error: string | undefined;
  try {
    let s = decode(body);
    if (s.includes('\r')) s = s.replace(/\r\n?/g, '\n');
    const bad = invalidCharAt(s);
    if (bad >= 0)
      throw new XmlError(
        `invalid character U+${s.charCodeAt(bad).toString(16).padStart(4, '0')} at line ${lineOf(s, bad)}`,
      );
    scanner = new Scanner(s, ctx);
    scanner.document();
  } catch (err) {
    if (!(err instanceof XmlError)) throw err;
    error =
      scanner === undefined || /at line \d+$/.test(err.message)
        ? err.message
        : `${err.message} at line ${lineOf(scanner.s, scanner.pos)}`;
  }
  return {
    text: ctx.rootStarted ? toBytes(ctx.text.join('')) : undefined,
    attributes: ctx.attributes.map(toBytes),
    error,
  };
}

function lineOf(s: string, pos: number): number {
  let line = 1;
  for (let i = s.indexOf('\n'); i >= 0 && i < pos; i = s.indexOf('\n', i + 1)) line++;
  return line;
}

/** A cursor over the document or over an entity's replacement text. */
class Scanner {
  pos = 0;
  constructor(
    readonly s: string,
    private readonly ctx: Context,
  ) {}

  // ---- Document and prolog ----

  document(): void {
    const s = this.s;
    if (s.startsWith('<?xml') && isSpace(s.charCodeAt(5))) this.xmlDeclaration();
    this.misc();
    if (s.startsWith('<!DOCTYPE', this.pos)) {
      this.doctype();
      this.misc();
    }
    if (this.pos >= s.length) throw new XmlError('the document is empty (no root element)');
    if (s[this.pos] !== '<' || nameLength(s, this.pos + 1) === 0)
      throw new XmlError('a root element was expected');
    this.ctx.rootStarted = true;
    this.content(true);
    this.misc();
    if (this.pos < s.length) throw new XmlError('extra content after the root element');
  }

  private xmlDeclaration(): void {
    const end = this.s.indexOf('?>');
    if (end < 0) throw new XmlError('unterminated XML declaration');
    const decl = this.s.slice(5, end);
    if (
      !/^\s+version\s*=\s*(["'])1\.[0-9]+\1(\s+encoding\s*=\s*(["'])[A-Za-z][\w.-]*\3)?(\s+standalone\s*=\s*(["'])(yes|no)\5)?\s*$/.test(
        decl,
      )
    )
      throw new XmlError('malformed XML declaration');
    this.ctx.standalone = /standalone\s*=\s*["']yes/.test(decl);
    this.pos = end + 2;
  }

  /** Comments, processing instructions and white space between the prolog's parts. */
  private misc(): void {
    const s = this.s;
    for (;;) {
      this.spaces();
      if (s.startsWith('<!--', this.pos)) this.comment();
      else if (s.startsWith('<?', this.pos)) this.processingInstruction();
      else return;
    }
  }

  private doctype(): void {
    this.pos += 9;
    if (!this.spaces()) throw new XmlError('space required after <!DOCTYPE');
    this.name();
    this.spaces();
    if (this.externalId()) this.ctx.dtdIncomplete = true;
    this.spaces();
    if (this.s[this.pos] === '[') {
      this.pos++;
      this.declarations(true);
      if (this.s[this.pos] !== ']') throw new XmlError('unterminated internal subset');
      this.pos++;
      this.spaces();
    }
    this.expect('>', 'the DOCTYPE declaration is not closed');
  }

  /** `SYSTEM "uri"` or `PUBLIC "id" "uri"` (never fetched); false when there is none. */
  private externalId(): boolean {
    const s = this.s;
    if (s.startsWith('SYSTEM', this.pos)) {
      this.pos += 6;
      if (!this.spaces()) throw new XmlError('space required after SYSTEM');
      this.literal();
      return true;
    }
    if (s.startsWith('PUBLIC', this.pos)) {
      this.pos += 6;
      if (!this.spaces()) throw new XmlError('space required after PUBLIC');
      this.literal();
      // The system literal of an entity may be absent only in a NOTATION declaration.
      if (!this.spaces()) throw new XmlError('space required after the public identifier');
      this.literal();
      return true;
    }
    return false;
  }

  /**
   * Markup declarations of the internal subset (up to `]`) or of a parameter entity's
   * replacement text (to its end). Only entity declarations matter here; the others are
   * checked for their end and skipped.
   */
  private declarations(top: boolean): void {
    const s = this.s;
    for (;;) {
      this.spaces();
      if (this.pos >= s.length) {
        if (top) throw new XmlError('unterminated internal subset');
        return;
      }
      const c = s[this.pos];
      if (c === ']' && top) return;
      if (c === '%') {
        this.pos++;
        const name = this.name();
        this.expect(';', 'a parameter entity reference needs a ;');
        this.ctx.dtdIncomplete = true;
        const entity = this.ctx.parameter.get(name);
        if (entity?.value !== undefined)
          this.expand(`%${name}`, entity.value, Expansion.Declarations);
      } else if (s.startsWith('<!ENTITY', this.pos)) this.entityDeclaration(top);
      else if (
        s.startsWith('<!ELEMENT', this.pos) ||
        s.startsWith('<!ATTLIST', this.pos) ||
        s.startsWith('<!NOTATION', this.pos)
      )
        this.skipDeclaration();
      else if (s.startsWith('<!--', this.pos)) this.comment();
      else if (s.startsWith('<?', this.pos)) this.processingInstruction();
      else throw new XmlError('a markup declaration was expected in the DTD');
    }
  }

  private skipDeclaration(): void {
    const s = this.s;
    for (let i = this.pos + 2; i < s.length; i++) {
      const c = s[i];
      if (c === '"' || c === "'") {
        const close = s.indexOf(c, i + 1);
        if (close < 0) break;
        i = close;
      } else if (c === '>') {
        this.pos = i + 1;
        return;
      }
    }
    throw new XmlError('unterminated markup declaration');
  }

  private entityDeclaration(top: boolean): void {
    this.pos += 8;
    if (!this.spaces()) throw new XmlError('space required after <!ENTITY');
    let parameter = false;
    if (this.s[this.pos] === '%') {
      parameter = true;
      this.pos++;
      if (!this.spaces()) throw new XmlError('space required after %');
    }
    const name = this.name();
    if (!this.spaces()) throw new XmlError('space required after the entity name');
    let entity: Entity;
    const q = this.s[this.pos];
    if (q === '"' || q === "'") {
      entity = { value: this.entityValue(top) };
    } else {
      if (!this.externalId()) throw new XmlError('an entity value or SYSTEM/PUBLIC was expected');
      const spaced = this.spaces();
      if (!parameter && spaced && this.s.startsWith('NDATA', this.pos)) {
        this.pos += 5;
        if (!this.spaces()) throw new XmlError('space required after NDATA');
        this.name();
      }
      entity = { value: undefined };
    }
    this.spaces();
    this.expect('>', 'the ENTITY declaration is not closed');
    const table = parameter ? this.ctx.parameter : this.ctx.general;
    // The first declaration binds; the predefined entities cannot be redefined.
    if (!table.has(name) && (parameter || !PREDEFINED.has(name))) table.set(name, entity);
  }

  /**
   * A quoted entity value: character references replaced now, general entity references kept
   * for when the entity is used, parameter entity references refused in the internal subset
   * (XML 1.0 WFC "PEs in Internal Subset").
   */
  private entityValue(top: boolean): string {
    const s = this.s;
    const quote = s[this.pos]!;
    const end = s.indexOf(quote, this.pos + 1);
    if (end < 0) throw new XmlError('unterminated entity value');
    const raw = s.slice(this.pos + 1, end);
    let out = '';
    let i = 0;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === '%') {
        if (top)
          throw new XmlError(
            'a parameter entity reference inside a declaration of the internal subset',
          );
        const semi = raw.indexOf(';', i);
        if (semi < 0) throw new XmlError('a parameter entity reference needs a ;');
        const value = this.ctx.parameter.get(raw.slice(i + 1, semi))?.value ?? '';
        this.spend(value.length);
        out += value;
        i = semi + 1;
      } else if (c === '&') {
        const semi = raw.indexOf(';', i);
        if (semi < 0) throw new XmlError('an entity reference needs a ;');
        const ref = raw.slice(i + 1, semi);
        if (ref.startsWith('#')) out += charRef(ref);
        else {
          if (ref === '' || nameLength(ref, 0) !== ref.length)
            throw new XmlError(`bad entity reference &${ref};`);
          out += `&${ref};`;
        }
        i = semi + 1;
      } else {
        out += c;
        i++;
      }
    }
    this.pos = end + 1;
    return out;
  }

  // ---- Content ----

  /**
   * Content: at the root (`root`), one element; in an entity's replacement text, anything
   * balanced. Iterative, so depth costs no stack.
   */
  content(root: boolean): void {
    const s = this.s;
    const ctx = this.ctx;
    const open: string[] = [];
    const n = s.length;
    for (;;) {
      if (this.pos >= n) {
        if (root || open.length > 0)
          throw new XmlError('premature end of data (an element is not closed)');
        return;
      }
      const c = s.charCodeAt(this.pos);
      if (c === 0x3c /* < */) {
        const c1 = s[this.pos + 1];
        if (c1 === '/') {
          this.pos += 2;
          const name = this.name();
          this.spaces();
          this.expect('>', `the end tag </${name}> is not closed`);
          const expected = open.pop();
          if (expected === undefined)
            throw new XmlError(`an end tag </${name}> without a start tag`);
          if (expected !== name)
            throw new XmlError(`the end tag </${name}> does not match <${expected}>`);
          ctx.depth--;
          if (root && open.length === 0) return;
        } else if (c1 === '!') {
          if (s.startsWith('<!--', this.pos)) this.comment();
          else if (s.startsWith('<![CDATA[', this.pos)) {
            const end = s.indexOf(']]>', this.pos + 9);
            if (end < 0) throw new XmlError('unterminated CDATA section');
            ctx.text.push(s.slice(this.pos + 9, end));
            this.pos = end + 3;
          } else throw new XmlError('a comment or CDATA section was expected after <!');
        } else if (c1 === '?') this.processingInstruction();
        else {
          this.pos++;
          const name = this.name();
          const empty = this.attributes(name);
          if (!empty) {
            open.push(name);
            if (++ctx.depth > MAX_DEPTH)
              throw new XmlError(`elements nest deeper than ${MAX_DEPTH}`);
          } else if (root && open.length === 0) return;
        }
      } else if (c === 0x26 /* & */) {
        this.reference();
      } else {
        let i = this.pos;
        while (i < n) {
          const d = s.charCodeAt(i);
          if (d === 0x3c || d === 0x26) break;
          i++;
        }
        const chunk = s.slice(this.pos, i);
        if (chunk.includes(']]>')) throw new XmlError("']]>' is not allowed in text");
        ctx.text.push(chunk);
        this.pos = i;
      }
    }
  }

  /** A start tag's attributes up to `>` or `/>`; true for an empty-element tag. */
  private attributes(element: string): boolean {
    const s = this.s;
    const seen = new Set<string>();
    for (;;) {
      const spaced = this.spaces();
      const c = s[this.pos];
      if (c === '>') {
        this.pos++;
        return false;
      }
      if (c === '/' && s[this.pos + 1] === '>') {
        this.pos += 2;
        return true;
      }
      if (c === undefined) throw new XmlError(`the start tag <${element}> is not closed`);
      if (!spaced) throw new XmlError(`attributes of <${element}> must be separated by space`);
      const name = this.name();
      this.spaces();
      this.expect('=', `the attribute ${name} needs =`);
      this.spaces();
      const quote = s[this.pos];
      if (quote !== '"' && quote !== "'") throw new XmlError(`the value of ${name} must be quoted`);
      const end = s.indexOf(quote, this.pos + 1);
      if (end < 0) throw new XmlError(`the value of ${name} is not closed`);
      const raw = s.slice(this.pos + 1, end);
      this.pos = end + 1;
      if (seen.has(name)) throw new XmlError(`the attribute ${name} is repeated in <${element}>`);
      seen.add(name);
      const value = this.attributeValue(raw);
      if (name !== 'xmlns' && !name.startsWith('xmlns:')) this.ctx.attributes.push(value);
    }
  }

  /** XML 1.0 3.3.3: references replaced, each white space character one space. */
  private attributeValue(raw: string): string {
    if (raw.includes('<')) throw new XmlError("'<' is not allowed in an attribute value");
    let out = '';
    let i = 0;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === '&') {
        const semi = raw.indexOf(';', i);
        if (semi < 0) throw new XmlError('an entity reference needs a ;');
        const ref = raw.slice(i + 1, semi);
        if (ref.startsWith('#')) out += charRef(ref);
        else {
          const predefined = PREDEFINED.get(ref);
          if (predefined !== undefined) out += predefined;
          else {
            const value = this.entity(ref);
            if (value !== undefined) out += this.expand(ref, value, Expansion.Attribute);
          }
        }
        i = semi + 1;
      } else {
        out += c === '\n' || c === '\t' ? ' ' : c;
        i++;
      }
    }
    return out;
  }

  /** `&...;` in content. */
  private reference(): void {
    const s = this.s;
    const semi = s.indexOf(';', this.pos);
    const ref = semi < 0 ? '' : s.slice(this.pos + 1, semi);
    if (ref === '' || /[\s<&]/.test(ref))
      throw new XmlError("'&' must start a reference ending in ;");
    this.pos = semi + 1;
    if (ref.startsWith('#')) {
      this.ctx.text.push(charRef(ref));
      return;
    }
    const predefined = PREDEFINED.get(ref);
    if (predefined !== undefined) {
      this.ctx.text.push(predefined);
      return;
    }
    const value = this.entity(ref);
    if (value !== undefined) this.expand(ref, value, Expansion.Content);
  }

  /** An internal entity's replacement text; undefined for an external or unknown one. */
  private entity(name: string): string | undefined {
    if (nameLength(name, 0) !== name.length) throw new XmlError(`bad entity reference &${name};`);
    const entity = this.ctx.general.get(name);
    if (entity === undefined) {
      // With parts of the DTD unread (an external subset, parameter entities) the entity may
      // be declared there: libxml2 only warns, and the reference yields no text.
      if (this.ctx.dtdIncomplete && !this.ctx.standalone) return undefined;
      throw new XmlError(`the entity &${name}; is not declared`);
    }
    return entity.value;
  }

  /**
   * Runs `parse` over an entity's replacement text, within the budget and depth; `name` is the
   * entity's (`%name` for a parameter entity).
   */
  private expand(name: string, value: string, as: Expansion): string {
    const ctx = this.ctx;
    if (ctx.expanding.has(name)) throw new XmlError(`the entity ${name} refers to itself`);
    if (ctx.entityDepth >= MAX_ENTITY_DEPTH)
      throw new XmlError(`entity references nest deeper than ${MAX_ENTITY_DEPTH}`);
    this.spend(value.length);
    ctx.expanding.add(name);
    ctx.entityDepth++;
    try {
      const sub = new Scanner(value, ctx);
      if (as === Expansion.Attribute) return sub.attributeValue(value);
      if (as === Expansion.Content) sub.content(false);
      else sub.declarations(false);
      return '';
    } finally {
      ctx.expanding.delete(name);
      ctx.entityDepth--;
    }
  }

  private spend(chars: number): void {
    this.ctx.budget -= chars;
    if (this.ctx.budget < 0)
      throw new XmlError(
        `entity expansion exceeds ${EXPANSION_FACTOR} times the body's size (an entity bomb)`,
      );
  }

  // ---- Lexical pieces ----

  private comment(): void {
    const end = this.s.indexOf('--', this.pos + 4);
    if (end < 0) throw new XmlError('unterminated comment');
    if (this.s[end + 2] !== '>') throw new XmlError("'--' is not allowed inside a comment");
    this.pos = end + 3;
  }

  private processingInstruction(): void {
    this.pos += 2;
    const target = this.name();
    if (target.toLowerCase() === 'xml')
      throw new XmlError('an XML declaration (or <?xml ...?>) is only allowed at the very start');
    if (this.s.startsWith('?>', this.pos)) {
      this.pos += 2;
      return;
    }
    if (!this.spaces())
      throw new XmlError('space required after the processing instruction target');
    const end = this.s.indexOf('?>', this.pos);
    if (end < 0) throw new XmlError('unterminated processing instruction');
    this.pos = end + 2;
  }

  private literal(): void {
    const quote = this.s[this.pos];
    if (quote !== '"' && quote !== "'") throw new XmlError('a quoted literal was expected');
    const end = this.s.indexOf(quote, this.pos + 1);
    if (end < 0) throw new XmlError('unterminated literal');
    this.pos = end + 1;
  }

  private name(): string {
    const n = nameLength(this.s, this.pos);
    if (n === 0) throw new XmlError('a name was expected');
    this.pos += n;
    return this.s.slice(this.pos - n, this.pos);
  }

  /** Skips white space; true when there was some. */
  private spaces(): boolean {
    const start = this.pos;
    while (this.pos < this.s.length && isSpace(this.s.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  private expect(c: string, message: string): void {
    if (this.s[this.pos] !== c) throw new XmlError(message);
    this.pos++;
  }
}

/** `#123` or `#x7b` (without & and ;) to its character; XML forbids references to non-characters. */
function charRef(ref: string): string {
  const hex = ref[1] === 'x';
  const digits = ref.slice(hex ? 2 : 1);
  if (digits === '' || !(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits) || digits.length > 8)
    throw new XmlError(`bad character reference &${ref};`);
  const cp = parseInt(digits, hex ? 16 : 10);
  if (!validCodePoint(cp))
    throw new XmlError(`the character reference &${ref}; is not a legal character`);
  return String.fromCodePoint(cp);
}
