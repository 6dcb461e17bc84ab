/**
 * Hand-made packets and listeners that record what reaches them, for tests that try paths a normal
 * socket would not take (a frame to the gateway's MAC with a loopback destination) and must show a
 * datagram did or did not arrive. Frames are sent with socat's INTERFACE address (a packet socket)
 * from inside the test's own namespaces.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, type World } from './world.js';

export interface UdpFrame {
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: string;
}

/** An Ethernet frame holding one IPv4 UDP datagram (UDP checksum 0: none, as IPv4 allows). */
export function udpFrame(f: UdpFrame): Buffer {
  const data = Buffer.from(f.payload);
  const ipLen = 20 + 8 + data.length;
  const b = Buffer.alloc(14 + ipLen);
  Buffer.from(f.dstMac.replace(/[:-]/g, ''), 'hex').copy(b, 0);
  Buffer.from(f.srcMac.replace(/[:-]/g, ''), 'hex').copy(b, 6);
  b.writeUInt16BE(0x0800, 12);
  const ip = 14;
  b[ip] = 0x45;
  b.writeUInt16BE(ipLen, ip + 2);
  b.writeUInt16BE(0x4000, ip + 6); // don't fragment
  b[ip + 8] = 64; // TTL
  b[ip + 9] = 17; // UDP
  f.src.split('.').forEach((o, i) => (b[ip + 12 + i] = Number(o)));
  f.dst.split('.').forEach((o, i) => (b[ip + 16 + i] = Number(o)));
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += b.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, ip + 10);
  b.writeUInt16BE(f.sport, ip + 20);
  b.writeUInt16BE(f.dport, ip + 22);
  b.writeUInt16BE(8 + data.length, ip + 24);
  data.copy(b, ip + 28);
  return b;
}

let frames = 0;

/** Sends `frame` as it is out of `ifName` in namespace `ns`. */
export async function sendFrame(w: World, ns: string, ifName: string, frame: Buffer): Promise<void> {
  const file = join(w.dir, `frame-${++frames}.bin`);
  writeFileSync(file, frame);
  await w.exec(ns, ['socat', '-u', `OPEN:${file}`, `INTERFACE:${ifName}`]);
}

/** A UDP listener in `ns` on `bind`:`port` that keeps every datagram it gets. */
export class UdpRecorder {
  private got = '';

  constructor(
    w: World,
    readonly ns: string,
    readonly bind: string,
    readonly port: number,
  ) {
    const p = w.spawnIn(ns, ['socat', '-u', `UDP-RECV:${port}${bind === '0.0.0.0' ? '' : `,bind=${bind}`}`, 'STDOUT']);
    p.stdout!.on('data', (b: Buffer) => (this.got += b.toString()));
  }

  has(marker: string): boolean {
    return this.got.includes(marker);
  }

  /**
   * Sends `marker` from namespace `from` to `to`:`port` (default: the bound address and port) until
   * it arrives: the listener works, and what was sent to it before has had its chance to arrive.
   */
  async expectFrom(w: World, from: string, marker: string, to = this.bind, port = this.port): Promise<void> {
    await waitFor(`"${marker}" at ${this.ns} ${this.bind}:${this.port}`, async () => {
      await sendUdp(w, from, to, port, marker);
      return this.has(marker);
    });
  }
}

/** One UDP datagram from namespace `ns` (optionally from source address `bind`). */
export async function sendUdp(w: World, ns: string, dst: string, port: number, payload: string, bind?: string): Promise<void> {
  const opts = [`UDP-SENDTO:${dst}:${port}`, ...(bind ? [`bind=${bind}`] : []), ...(dst.endsWith('.255') ? ['broadcast'] : [])].join(',');
  await w.exec(ns, ['socat', '-u', 'STDIN', opts], { stdin: payload, okExitCodes: [1] });
}
