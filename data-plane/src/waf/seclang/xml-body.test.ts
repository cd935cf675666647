import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXmlBody, EXPANSION_FACTOR, EXPANSION_SLACK, MAX_DEPTH } from './xml-body.js';

const parse = (xml: string | Buffer): ReturnType<typeof parseXmlBody> =>
  parseXmlBody(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml);

function ok(xml: string | Buffer): { text: string | undefined; attributes: readonly string[] } {
  const r = parse(xml);
  assert.equal(r.error, undefined, `unexpected error for ${String(xml)}`);
  return r;
}

function malformed(xml: string | Buffer, reason: RegExp): void {
  const r = parse(xml);
  assert.ok(r.error !== undefined, `${String(xml)} parsed as well-formed`);
  assert.match(r.error, reason);
}

describe('XML body: text content (XML:/*)', () => {
  test("one value: the root's text and CDATA in document order, white space kept", () => {
    const r = ok(
      '<?xml version="1.0"?>\n<order id="7">\n  <item>tea</item>\n  <note><![CDATA[<b>fast</b>]]> please</note>\n</order>\n',
    );
    assert.equal(r.text, '\n  tea\n  <b>fast</b> please\n');
  });

  test('text split over elements is joined, as libxml2 gives it', () => {
    assert.equal(ok("<q><a>1' or </a><b>'1'='1</b></q>").text, "1' or '1'='1");
  });

  test('comments and processing instructions are not text', () => {
    assert.equal(ok('<a>x<!-- <script> --><?php echo 1; ?>y</a>').text, 'xy');
  });

  test('references: predefined entities, decimal and hex character references', () => {
    assert.equal(
      ok('<a>&lt;s&gt; &amp; &apos;&quot; &#60;&#x3C;&#x1F600;</a>').text,
      '<s> & \'" <<\u00f0\u009f\u0098\u0080',
    );
  });

  test('line ends are normalised to \\n; non-ASCII comes out as UTF-8 bytes', () => {
    assert.equal(ok('<a>x\r\ny\rz caf\u00e9</a>').text, 'x\ny\nz caf\u00c3\u00a9');
  });

  test('no root element, no value', () => {
    assert.equal(parse('').text, undefined);
    assert.equal(parse('<!-- only a comment -->').text, undefined);
  });

  test('an empty root gives an empty value', () => {
    assert.equal(ok('<a/>').text, '');
  });
});

describe('XML body: attribute values (XML://@*)', () => {
  test('every attribute in document order, normalised; namespace declarations left out', () => {
    const r = ok(
      '<r xmlns="urn:a" xmlns:p="urn:p" p:x="1"><c y="a\tb\nc" z=\'&lt;&#10;\'/><d w=""/></r>',
    );
    assert.deepEqual(r.attributes, ['1', 'a b c', '<\n', '']);
  });
});

describe('XML body: entities', () => {
  test('internal entities expand where they are used, markup in them included', () => {
    const r = ok(
      '<!DOCTYPE a [<!ENTITY t "../../etc/shadow"><!ENTITY m "&#60;b&#62;bold&#60;/b&#62;!"><!ENTITY n "&t;+">]>' +
        '<a x="&t;">&t; &m; &n;</a>',
    );
    assert.equal(r.text, '../../etc/shadow bold! ../../etc/shadow+');
    assert.deepEqual(r.attributes, ['../../etc/shadow']);
  });

  test('external entities are never fetched and give no text (as ModSecurity)', () => {
    const r = ok(
      '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y PUBLIC "-//x" "http://127.0.0.1:1/y">]><a>[&x;&y;]</a>',
    );
    assert.equal(r.text, '[]');
  });

  test('an external DTD or parameter entity is not read; undeclared entities then give no text', () => {
    assert.equal(ok('<!DOCTYPE a SYSTEM "http://127.0.0.1:1/a.dtd"><a>[&u;]</a>').text, '[]');
    assert.equal(
      ok('<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]><a>[&u;]</a>').text,
      '[]',
    );
  });

  test('internal parameter entities hold declarations', () => {
    assert.equal(
      ok('<!DOCTYPE a [<!ENTITY % d "<!ENTITY g \'got\'>"> %d;]><a>&g;</a>').text,
      'got',
    );
  });

  test('undeclared entities are errors when the whole DTD was seen, or in a standalone document', () => {
    malformed('<a>&foo;</a>', /&foo; is not declared/);
    malformed('<!DOCTYPE a [<!ENTITY b "c">]><a>&foo;</a>', /&foo; is not declared/);
    malformed(
      '<?xml version="1.0" standalone="yes"?><!DOCTYPE a SYSTEM "a.dtd"><a>&foo;</a>',
      /&foo; is not declared/,
    );
  });

  test('a billion laughs stops at the expansion budget, with an error and the text so far', () => {
    let dtd = '<!ENTITY l0 "lol">';
    for (let i = 1; i <= 9; i++) dtd += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`;
    const xml = `<!DOCTYPE b [${dtd}]><b>&l9;</b>`;
    const r = parse(xml);
    assert.match(r.error ?? '', /entity expansion exceeds 10 times the body's size/);
    // The expanded text never outgrows the budget (10^9 "lol"s otherwise).
    assert.ok((r.text ?? '').length <= EXPANSION_FACTOR * xml.length + EXPANSION_SLACK);
  });

  test('quadratic blowup (one big entity used many times) is refused too', () => {
    const big = 'x'.repeat(5000);
    malformed(
      `<!DOCTYPE b [<!ENTITY e "${big}">]><b>${'&e;'.repeat(100)}</b>`,
      /entity expansion exceeds/,
    );
  });

  test('moderate expansion is fine (libxml2 accepts these too)', () => {
    const r = ok('<!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;">]><a>&l2;&l2;</a>');
    assert.equal(r.text, 'lol'.repeat(6));
    const e = 'y'.repeat(900);
    assert.equal(
      ok(`<!DOCTYPE a [<!ENTITY e "${e}">]><a>${'&e;'.repeat(20)}</a>`).text,
      e.repeat(20),
    );
  });

  test('recursive entities are refused', () => {
    malformed('<!DOCTYPE a [<!ENTITY x "a&y;"><!ENTITY y "b&x;">]><a>&x;</a>', /refers to itself/);
  });

  test('parameter entity references inside internal subset declarations are refused', () => {
    malformed(
      '<!DOCTYPE a [<!ENTITY % p "x"><!ENTITY g "%p;">]><a/>',
      /parameter entity reference inside/,
    );
  });

  test('an entity that does not balance its elements is refused', () => {
    malformed('<!DOCTYPE a [<!ENTITY x "&#60;b&#62;">]><a>&x;</a>', /not closed/);
  });
});

describe('XML body: malformed documents', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['hello <a/>', /root element was expected/],
    ['<a><b></a>', /does not match/],
    ['<a>', /premature end/],
    ['<a>x</a><b/>', /extra content/],
    ['<a>x</a>trailing', /extra content/],
    [' <?xml version="1.0"?><a/>', /only allowed at the very start/],
    ['<?xml encoding="utf-8"?><a/>', /malformed XML declaration/],
    ['<a b="1" b="2"/>', /repeated/],
    ['<a b="<"/>', /'<' is not allowed/],
    ['<a b=1/>', /must be quoted/],
    ['<a b="1"c="2"/>', /separated by space/],
    ['<1a/>', /root element was expected/],
    ['<a>]]></a>', /']]>' is not allowed/],
    ['<a>&#0;</a>', /not a legal character/],
    ['<a>&#xD800;</a>', /not a legal character/],
    ['<a>x & y</a>', /'&' must start a reference/],
    ['<a>\u0001</a>', /invalid character U\+0001/],
    ['<a><!-- a -- b --></a>', /'--' is not allowed/],
    ['<a><![CDATA[x</a>', /unterminated CDATA/],
    ['<a></b>', /does not match/],
    ['</a>', /root element was expected/],
    ['<!DOCTYPE a [<!ENTITY x "y">', /unterminated internal subset/],
  ];
  for (const [xml, reason] of cases)
    test(JSON.stringify(xml), () => {
      malformed(xml, reason);
    });

  test('the error names the line', () => {
    malformed('<a>\n<b>\n</a>', /at line 3$/);
  });

  test(`elements nest at most ${MAX_DEPTH} deep`, () => {
    ok('<a>'.repeat(MAX_DEPTH) + '</a>'.repeat(MAX_DEPTH));
    malformed('<a>'.repeat(MAX_DEPTH + 1) + '</a>'.repeat(MAX_DEPTH + 1), /nest deeper/);
  });

  test('the text up to the error is kept (ModSecurity keeps the partial document)', () => {
    assert.equal(parse('<a>one<b>two</a>').text, 'onetwo');
  });
});

describe('XML body: encodings', () => {
  test('UTF-8 by default; bytes that are not UTF-8 are an error', () => {
    malformed(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]), /not valid utf-8/);
  });

  test('a declared ISO-8859-1 document comes out as UTF-8 bytes', () => {
    const body = Buffer.concat([
      Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><a>caf'),
      Buffer.from([0xe9]),
      Buffer.from('</a>'),
    ]);
    assert.equal(ok(body).text, 'caf\u00c3\u00a9');
  });

  test('UTF-16 with a byte order mark; a UTF-8 byte order mark is skipped', () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a>hi</a>', 'utf16le')]);
    assert.equal(ok(utf16).text, 'hi');
    assert.equal(
      ok(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<a>x</a>')])).text,
      'x',
    );
  });

  test('an unknown encoding is an error', () => {
    malformed('<?xml version="1.0" encoding="x-no-such"?><a/>', /unsupported encoding/);
  });
});
