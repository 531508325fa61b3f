// HTTP/1.1 over a raw socket: for what a well-behaved client cannot send (slow bodies, malformed
// framing) and to see exactly what the server writes and whether it closes the connection.
import net from 'node:net';

export interface RawAnswer {
  status: number;
  json: { error?: { code?: string; message?: string } } & Record<string, unknown>;
  /** The server closed the connection. */
  closed: boolean;
  raw: string;
}

/**
 * One request over a raw socket; resolves with the first response once the server closes the connection
 * or the response is complete. With `trickle`, one more body byte every 100 ms until then.
 */
export function rawRequest(port: number, text: string, o: { trickle?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let raw = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearInterval(timer);
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(raw);
      let json: RawAnswer['json'] = {};
      try {
        json = JSON.parse(m?.[3] ?? '') as RawAnswer['json'];
      } catch {
        // not JSON
      }
      resolve({ status: m ? Number(m[1]) : 0, json, closed, raw });
    };
    s.on('data', (c) => {
      raw += c.toString('latin1');
      const m = /\r\ncontent-length: (\d+)\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/i.exec(raw);
      if (!o.trickle && m && Buffer.byteLength(m[2]!, 'latin1') >= Number(m[1])) {
        s.destroy();
        done(false);
      }
    });
    s.on('close', () => done(true));
    s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    s.write(text);
    if (o.trickle) timer = setInterval(() => !s.destroyed && s.write(' '), 100);
  });
}
