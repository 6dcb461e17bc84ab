/**
 * A text/event-stream reader (the WHATWG server-sent events framing): feed it chunks as they
 * arrive, it calls back with each complete event (id, event name, data joined by newlines);
 * comments (keepalives) and events without data are skipped. Used by hostd's controller agent and
 * by the tests that read the controller's streams.
 */
export interface ServerSentEvent {
  id?: string;
  event: string;
  data: string;
}

export class SseParser {
  private buf = '';
  private readonly decoder = new TextDecoder();

  constructor(private readonly onEvent: (e: ServerSentEvent) => void) {}

  push(chunk: Uint8Array): void {
    this.buf += this.decoder.decode(chunk, { stream: true });
    let m: RegExpExecArray | null;
    while ((m = /\r?\n\r?\n/.exec(this.buf)) !== null) {
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length) this.onEvent({ ...(id !== undefined ? { id } : {}), event, data: data.join('\n') });
    }
  }
}
