/** The text/event-stream reader against hand-written framing, split at every byte. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser, type ServerSentEvent } from '../../src/http/sse-parser.js';

const WIRE = ': keepalive\n\nevent: ready\ndata: {"revision":4}\n\nid: 7\nevent: put\ndata: {"a":1}\n\r\nid: 8\r\nevent: delete\r\ndata: x\r\ndata: y\r\n\r\nevent: empty\n\ndata:no-space\n\n';
const WANT: ServerSentEvent[] = [
  { event: 'ready', data: '{"revision":4}' },
  { id: '7', event: 'put', data: '{"a":1}' },
  { id: '8', event: 'delete', data: 'x\ny' },
  { event: 'message', data: 'no-space' },
];

describe('SseParser', () => {
  it('reads events, multi-line data, CRLF, and skips comments and data-less events', () => {
    const got: ServerSentEvent[] = [];
    new SseParser((e) => got.push(e)).push(new TextEncoder().encode(WIRE));
    assert.deepEqual(got, WANT);
  });

  it('gives the same events however the bytes are split (UTF-8 across chunks too)', () => {
    const bytes = new TextEncoder().encode(`${WIRE}data: ünïcødé ✓\n\n`);
    for (const step of [1, 2, 3, 7]) {
      const got: ServerSentEvent[] = [];
      const p = new SseParser((e) => got.push(e));
      for (let i = 0; i < bytes.length; i += step) p.push(bytes.subarray(i, i + step));
      assert.deepEqual(got, [...WANT, { event: 'message', data: 'ünïcødé ✓' }], `chunks of ${step}`);
    }
  });
});
