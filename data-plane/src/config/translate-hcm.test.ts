import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from './translate-common.js';
import { translateHcm } from './translate-hcm.js';

const T = 'type.googleapis.com/';

function hcm(extra: JsonObject): JsonObject {
  return {
    stat_prefix: 'http',
    route_config: { name: 'r', virtual_hosts: [] },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
      },
    ],
    ...extra,
  };
}

function translate(extra: JsonObject): ReturnType<typeof translateHcm> {
  const issues = new Issues('');
  const model = translateHcm(hcm(extra), '', issues, {});
  assert.deepEqual(issues.errors, []);
  return model;
}

describe('translateHcm: request hardening', () => {
  test("Envoy's defaults leave paths and headers alone (absent from the model)", () => {
    const model = translate({});
    assert.equal(model.pathNormalization, undefined);
    assert.equal(model.headersWithUnderscoresAction, undefined);
    const explicit = translate({
      normalize_path: false,
      merge_slashes: false,
      path_with_escaped_slashes_action: 'IMPLEMENTATION_SPECIFIC_DEFAULT',
      common_http_protocol_options: { headers_with_underscores_action: 'ALLOW' },
    });
    assert.equal(explicit.pathNormalization, undefined);
    assert.equal(explicit.headersWithUnderscoresAction, undefined);
  });

  test('normalize_path, merge_slashes and the escaped-slashes action', () => {
    assert.deepEqual(translate({ normalize_path: true, merge_slashes: true }).pathNormalization, {
      normalizePath: true,
      mergeSlashes: true,
      escapedSlashesAction: 'KEEP_UNCHANGED',
    });
    assert.deepEqual(
      translate({ path_with_escaped_slashes_action: 'REJECT_REQUEST' }).pathNormalization,
      { normalizePath: false, mergeSlashes: false, escapedSlashesAction: 'REJECT_REQUEST' },
    );
  });

  test('headers_with_underscores_action', () => {
    for (const action of ['REJECT_REQUEST', 'DROP_HEADER'] as const)
      assert.equal(
        translate({ common_http_protocol_options: { headers_with_underscores_action: action } })
          .headersWithUnderscoresAction,
        action,
      );
  });
});
