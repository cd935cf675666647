import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalPath,
  mergeSlashes,
  needsNormalization,
  normalizePath,
  PathAction,
  unescapeSlashes,
  type EscapedSlashesAction,
  type PathNormalizationConfig,
} from './path-normalization.js';

function config(
  normalizePath: boolean,
  mergeSlashes: boolean,
  escapedSlashesAction: EscapedSlashesAction = 'KEEP_UNCHANGED',
): PathNormalizationConfig {
  return { normalizePath, mergeSlashes, escapedSlashesAction };
}

const NORMALIZE = config(true, false);
const ALL = config(true, true);

describe('canonicalPath (normalize_path)', () => {
  // RFC 3986 §5.2.4 remove_dot_segments, on absolute paths.
  const rfc3986: [string, string][] = [
    ['/a/b/c/./../../g', '/a/g'],
    ['/mid/content=5/../6', '/mid/6'],
    ['/a/b/./c', '/a/b/c'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../../../c', '/c'], // never above the root
    ['/..', '/'],
    ['/.', '/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/a/./', '/a/'],
    ['/a/../', '/'],
    ['/x/../admin', '/admin'],
  ];
  for (const [input, output] of rfc3986)
    test(`dot segments: ${input} → ${output}`, () => assert.equal(canonicalPath(input), output));

  // Envoy's PathUtil tests, as its behaviour is documented and tested.
  const envoy: [string, string][] = [
    ['/a/b/../c', '/a/c'], // parent dir
    ['/a/b/./c', '/a/b/c'], // current dir
    ['a/b/../c', '/a/c'], // no leading slash
    ['/a/..\\c', '/c'], // "..\" is a parent segment, the backslash a slash
    ['/%c0%af', '/%c0%af'], // encoded non-ASCII bytes stay encoded
    ['/%5c%25', '/%5c%25'], // reserved characters stay encoded, hex case kept
    ['/a/b/%2E%2E/c', '/a/c'], // %2E is a dot
    ['/a/b/%2e%2e/c', '/a/c'],
    ['/A/B/C', '/A/B/C'], // no case normalization
    ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'],
    ['..', '/'],
    ['/../a/b', '/a/b'],
    ['/./a/b', '/a/b'],
    // Dot segments with parameters (strip_dotdot_segments_with_parameters).
    ['/xyz/..;foo=bar/abc', '/abc'],
    ['/..;foo=bar/abc', '/abc'],
    ['/xyz/..;foo=bar', '/'],
    ['/xyz/.;foo=bar/abc', '/xyz/abc'],
    ['/.;foo=bar/abc', '/abc'],
    ['/xyz/.;foo=bar', '/xyz/'],
    ['/xyz/..;foo=bar/.;v1=2,v2=3/abc', '/abc'],
    ['/..;foo=bar/abc/.;mmm', '/abc/'],
    ['/.;aaa/..;foo=bar/abc/.;mmm', '/abc/'],
    ['/xyz/..;foo=bar/.;fff=zzz', '/'],
    ['/xyz/...;foo', '/xyz/...;foo'], // not a dot segment
    ['/xyz/..foo', '/xyz/..foo'],
    ['/remain;blah-bluh', '/remain;blah-bluh'], // other parameters stay
    ['/a/%2F%2f/c', '/a/%2F%2f/c'], // escaped slashes are not path separators
    ['/xyz', '/xyz'],
    ['/x/y/z', '/x/y/z'],
  ];
  for (const [input, output] of envoy)
    test(`Envoy: ${input} → ${output}`, () => assert.equal(canonicalPath(input), output));

  const other: [string, string, string][] = [
    ['unreserved escapes are decoded', '/%61dmin/%7E%2D%5F%2e%30', '/admin/~-_.0'],
    ['upper and lower hex decode alike', '/%41%4a%6A', '/AJj'],
    ['reserved escapes kept', '/a%3Fb%23c%25d%2Fe', '/a%3Fb%23c%25d%2Fe'],
    ['backslashes become slashes', '\\a\\b\\..\\c', '/a/c'],
    ['dots inside names stay', '/a.b/..c/c../.d', '/a.b/..c/c../.d'],
    ['%2e inside a name is a dot', '/a%2eb', '/a.b'],
    ['%2e at the end is the current directory', '/a/%2e', '/a/'],
    ['invalid escapes pass through', '/a%zz/%4/%', '/a%zz/%4/%'],
    ['a lone % before a valid escape', '/%%41', '/%A'],
    ['space and quotes are escaped', '/a b"c<d>e`f{g}h^i', '/a%20b%22c%3Cd%3Ee%60f%7Bg%7Dh%5Ei'],
    ['control characters and DEL are escaped', '/a\x01\x7f', '/a%01%7F'],
    ['non-ASCII bytes are escaped', '/\xe9t\xe9', '/%E9t%E9'],
    ['characters allowed raw pass', "/!$&'()*+,;=:@[]|", "/!$&'()*+,;=:@[]|"],
    ['slashes are not merged', '//a//b', '//a//b'],
    ['a parent segment under a double slash', '//a/..', '//'],
    ['empty path', '', '/'],
  ];
  for (const [name, input, output] of other)
    test(name, () => assert.equal(canonicalPath(input), output));

  test('NUL, raw or escaped, is invalid', () => {
    assert.equal(canonicalPath('/ab%00c'), undefined);
    assert.equal(canonicalPath('/ab\x00c'), undefined);
    // Envoy's invalid-path cases.
    assert.equal(canonicalPath('/xyz/.%00../abc'), undefined);
    assert.equal(canonicalPath('/xyz/%00.%00./abc'), undefined);
    assert.equal(canonicalPath('/xyz/AAAAA%%0000/abc'), undefined);
  });
});

describe('mergeSlashes', () => {
  const cases: [string, string][] = [
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/a/b//', '/a/b/'],
    ['/a/b', '/a/b'],
    // Envoy's split-and-join keeps a leading and a trailing slash: a path of slashes only
    // becomes two.
    ['///', '//'],
  ];
  for (const [input, output] of cases)
    test(`${input} → ${output}`, () => assert.equal(mergeSlashes(input), output));
});

describe('unescapeSlashes', () => {
  test('%2F, %2f, %5C and %5c in any case', () => {
    assert.equal(unescapeSlashes('/a%2Fb%2fc%5Cd%5ce'), '/a/b/c\\d\\e');
    assert.equal(unescapeSlashes('/a%2Eb'), '/a%2Eb');
    assert.equal(unescapeSlashes('/plain'), '/plain');
  });
});

describe('normalizePath (maybeNormalizePath)', () => {
  test('the three bypasses of a /admin prefix are closed with normalize_path + merge_slashes', () => {
    for (const path of ['/x/../admin', '//admin', '/%61dmin', '/./admin', '/a/..//admin'])
      assert.deepEqual(normalizePath(path, ALL), { path: '/admin', action: PathAction.Continue });
  });

  test('dot segments with parameters; the query keeps its own', () => {
    assert.deepEqual(
      normalizePath('/xyz/..;foo=bar/.;fff=zzz/remain;blah-bluh?query;x=/..;y', ALL),
      {
        path: '/remain;blah-bluh?query;x=/..;y',
        action: PathAction.Continue,
      },
    );
    assert.equal(normalizePath('/admin/..;/x', config(false, true)).path, '/admin/..;/x');
  });

  test('the query is kept as received', () => {
    assert.deepEqual(
      normalizePath('/a/../b?x=/../%2F&y=//', config(true, true, 'REJECT_REQUEST')),
      {
        path: '/b?x=/../%2F&y=//',
        action: PathAction.Continue,
      },
    );
  });

  test('a fragment is rejected whatever the settings (Envoy: http_reject_path_with_fragment)', () => {
    for (const settings of [
      ALL,
      config(false, true),
      config(false, false, 'UNESCAPE_AND_FORWARD'),
    ]) {
      assert.equal(needsNormalization('/a#b', settings), true);
      assert.equal(needsNormalization('/a?q#b', settings), true);
      assert.equal(normalizePath('/a#b', settings).action, PathAction.Reject);
      assert.equal(normalizePath('/a?q=1#b', settings).action, PathAction.Reject);
    }
  });

  test('invalid paths are rejected', () => {
    assert.equal(normalizePath('/a%00', NORMALIZE).action, PathAction.Reject);
    assert.equal(normalizePath('/a%00', config(false, true)).action, PathAction.Continue);
  });

  test('escaped slashes: KEEP_UNCHANGED leaves them (normalize_path too)', () => {
    assert.deepEqual(normalizePath('/a%2F..%2Fadmin', ALL), {
      path: '/a%2F..%2Fadmin',
      action: PathAction.Continue,
    });
  });

  test('escaped slashes: REJECT_REQUEST', () => {
    const reject = config(false, false, 'REJECT_REQUEST');
    assert.equal(normalizePath('/a%2fb', reject).action, PathAction.Reject);
    assert.equal(normalizePath('/a%5Cb', reject).action, PathAction.Reject);
    assert.equal(normalizePath('/a/b?q=%2F', reject).action, PathAction.Continue);
  });

  test('escaped slashes: UNESCAPE_AND_FORWARD, then normalization and merging', () => {
    assert.deepEqual(
      normalizePath('/a%2F..%2Fadmin', config(true, false, 'UNESCAPE_AND_FORWARD')),
      {
        path: '/admin',
        action: PathAction.Continue,
      },
    );
    assert.deepEqual(normalizePath('/a%5c%5Cb', config(true, true, 'UNESCAPE_AND_FORWARD')), {
      path: '/a/b',
      action: PathAction.Continue,
    });
    // Without normalize_path a decoded %5C stays a backslash.
    assert.deepEqual(normalizePath('/a%5cb', config(false, false, 'UNESCAPE_AND_FORWARD')), {
      path: '/a\\b',
      action: PathAction.Continue,
    });
  });

  test('escaped slashes: UNESCAPE_AND_REDIRECT redirects to the final path', () => {
    assert.deepEqual(normalizePath('/a%2F%2Fb?q', config(true, true, 'UNESCAPE_AND_REDIRECT')), {
      path: '/a/b?q',
      action: PathAction.Redirect,
    });
    assert.deepEqual(normalizePath('/a/b', config(true, true, 'UNESCAPE_AND_REDIRECT')), {
      path: '/a/b',
      action: PathAction.Continue,
    });
  });
});

describe('needsNormalization (the one-scan fast path)', () => {
  test('an ordinary path needs nothing', () => {
    for (const path of ['/', '/api/v1/users', '/a.b/c.d?x=%2F&y=/../..', '/a-b_c~d'])
      assert.equal(needsNormalization(path, ALL), false, path);
  });

  test('a flagged path is exactly one that could change', () => {
    for (const path of ['/a/../b', '/./a', '/a//b', '/%61', '/a\\b', '/a b', '/a/.', '/\xe9'])
      assert.equal(needsNormalization(path, ALL), true, path);
    assert.equal(needsNormalization('/a//b', NORMALIZE), false);
    assert.equal(needsNormalization('/%2F', config(false, true)), false);
    assert.equal(needsNormalization('/%2F', config(false, false, 'REJECT_REQUEST')), true);
  });

  test('agrees with normalizePath: unflagged paths come back unchanged', () => {
    const samples = ['/', '/a.b', '/a/b/c', '/x.y/z', '/a-b?c=../d', '/q?%00', '/a~b_c'];
    for (const path of samples) {
      assert.equal(needsNormalization(path, ALL), false, path);
      assert.equal(normalizePath(path, ALL).path, path, path);
    }
  });

  test('property: an unflagged path is never changed (20 000 random paths, every setting)', () => {
    // A seeded generator (xorshift32): the same paths on every run.
    let seed = 0x9e3779b9;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const alphabet = [
      '/',
      '/',
      'a',
      'b',
      '.',
      '%',
      '2',
      'e',
      'F',
      '5',
      'c',
      '\\',
      '?',
      '#',
      ';',
      ' ',
      '\xe9',
      '0',
    ];
    const settings: PathNormalizationConfig[] = [];
    for (const normalize of [false, true])
      for (const merge of [false, true])
        for (const action of ['KEEP_UNCHANGED', 'REJECT_REQUEST', 'UNESCAPE_AND_FORWARD'] as const)
          settings.push(config(normalize, merge, action));
    for (let n = 0; n < 20_000; n++) {
      let path = '/';
      const length = next() % 12;
      for (let i = 0; i < length; i++) path += alphabet[next() % alphabet.length]!;
      for (const setting of settings) {
        if (needsNormalization(path, setting)) continue;
        assert.deepEqual(normalizePath(path, setting), { path, action: PathAction.Continue }, path);
      }
    }
  });
});
