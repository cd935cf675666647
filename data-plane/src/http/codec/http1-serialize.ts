/**
 * Header fields as HTTP/1.1 text (`name: value\r\n` each). Fields that HTTP/1 framing owns are
 * left out (the codec writes its own Connection / Transfer-Encoding), and so is any value holding
 * CR or LF, which would split the message (values come from upstream heads that llhttp checked
 * and from validated config, so this only guards against a bug).
 */
import type { HeaderMap } from '../header-map.js';

export interface SerializedFields {
  text: string;
  hasContentLength: boolean;
}

const result: SerializedFields = { text: '', hasContentLength: false };

/**
 * Returns a shared result object, valid until the next call. `dropContentLength` for messages
 * that must not carry one (1xx, 204, trailers).
 */
export function serializeFields(headers: HeaderMap, dropContentLength: boolean): SerializedFields {
  const names = headers.names;
  const values = headers.values;
  let text = '';
  let hasContentLength = false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    switch (name) {
      case 'connection':
      case 'transfer-encoding':
      case 'keep-alive':
      case 'proxy-connection':
      case 'upgrade':
        continue;
      case 'content-length':
        if (dropContentLength) continue;
        hasContentLength = true;
        break;
    }
    const value = values[i]!;
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) continue;
    text += `${name}: ${value}\r\n`;
  }
  result.text = text;
  result.hasContentLength = hasContentLength;
  return result;
}
