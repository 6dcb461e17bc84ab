/**
 * A UDP socket on port 68 bound to one interface, made with libc's socket calls through koffi. Used
 * only by the exchange program (exchange.ts), a short-lived child inside the endpoint's namespace;
 * its calls block, which is harmless there and keeps the retransmit logic a plain loop.
 *
 * Why not Node's dgram: on an interface without an address, sending to 255.255.255.255 from a socket
 * bound to 0.0.0.0 fails with ENETUNREACH (Linux 6.18, seen here): the route lookup of the limited
 * broadcast address needs an output interface, and with no route in the namespace there is none.
 * SO_BINDTODEVICE supplies it (the kernel then sends from 0.0.0.0, as DHCP needs), and dgram cannot
 * set it. The broadcast answers of the server are received on the bound socket without an address.
 */
import { createRequire } from 'node:module';
import { SyError } from '../errors.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_UDP = 17;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_BROADCAST = 6;
const SO_BINDTODEVICE = 25;
const POLLIN = 1;
const EINTR = 4;
const SOCKADDR_IN_BYTES = 16;
const MAX_DATAGRAM = 65_536;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  13: 'EACCES',
  19: 'ENODEV',
  22: 'EINVAL',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN',
  101: 'ENETUNREACH',
  113: 'EHOSTUNREACH',
};

type Fn = (...args: unknown[]) => number;

interface Libc {
  socket: Fn;
  setsockopt: Fn;
  bind: Fn;
  sendto: Fn;
  poll: Fn;
  recvfrom: Fn;
  close: Fn;
  errno: () => number;
}

let libc: Libc | null = null;

function load(): Libc {
  if (libc) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    const fn = (decl: string) => lib.func(decl) as Fn;
    libc = {
      socket: fn('int socket(int domain, int type, int protocol)'),
      setsockopt: fn('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
      bind: fn('int bind(int fd, const void *addr, uint32_t len)'),
      sendto: fn('intptr_t sendto(int fd, const void *buf, uintptr_t len, int flags, const void *addr, uint32_t alen)'),
      poll: fn('int poll(void *fds, uint64_t n, int timeout)'),
      recvfrom: fn('intptr_t recvfrom(int fd, void *buf, uintptr_t len, int flags, void *addr, void *alen)'),
      close: fn('int close(int fd)'),
      errno: () => koffi.errno(),
    };
    return libc;
  } catch (e) {
    throw new SyError('SY_NOT_SUPPORTED', `The DHCP client needs libc sockets through koffi, which cannot be loaded here: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function sockaddr(address: string, port: number): Buffer {
  const sa = Buffer.alloc(SOCKADDR_IN_BYTES);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  address.split('.').forEach((o, i) => (sa[4 + i] = Number(o)));
  return sa;
}

function errnoText(n: number): string {
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

export interface Datagram {
  data: Buffer;
  from: string;
  port: number;
}

/** One UDP socket on 0.0.0.0:68 bound to `ifName`, with SO_BROADCAST. Close it when done. */
export class DeviceUdpSocket {
  private readonly c: Libc;
  private fd: number;

  constructor(readonly ifName: string, port = 68) {
    this.c = load();
    const c = this.c;
    this.fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (this.fd < 0) throw new SyError('SY_KERNEL', `Cannot open a UDP socket for DHCP on "${ifName}": ${errnoText(c.errno())}`);
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      this.option(SO_BROADCAST, one, 'SO_BROADCAST');
      this.option(SO_REUSEADDR, one, 'SO_REUSEADDR');
      const dev = Buffer.from(`${ifName}\0`, 'latin1');
      if (c.setsockopt(this.fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) < 0) {
        const e = c.errno();
        throw new SyError('SY_KERNEL', e === 19 ? `No interface "${ifName}" in this network namespace` : `Cannot bind the DHCP socket to "${ifName}": ${errnoText(e)}`);
      }
      if (c.bind(this.fd, sockaddr('0.0.0.0', port), SOCKADDR_IN_BYTES) < 0) {
        const e = c.errno();
        throw new SyError('SY_KERNEL', `Cannot bind UDP port ${port} on "${ifName}"${e === 98 ? ' (another DHCP client runs there?)' : ''}: ${errnoText(e)}`);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private option(name: number, value: Buffer, label: string): void {
    if (this.c.setsockopt(this.fd, SOL_SOCKET, name, value, value.length) < 0) {
      throw new SyError('SY_KERNEL', `Cannot set ${label} on the DHCP socket of "${this.ifName}": ${errnoText(this.c.errno())}`);
    }
  }

  send(data: Uint8Array, address: string, port: number): void {
    const n = this.c.sendto(this.fd, data, data.length, 0, sockaddr(address, port), SOCKADDR_IN_BYTES);
    if (n < 0) throw new SyError('SY_KERNEL', `Cannot send DHCP to ${address}:${port} on "${this.ifName}": ${errnoText(this.c.errno())}`);
  }

  /** The next datagram, or null when none arrives within `timeoutMs`. */
  receive(timeoutMs: number): Datagram | null {
    const pfd = Buffer.alloc(8);
    pfd.writeInt32LE(this.fd, 0);
    pfd.writeInt16LE(POLLIN, 4);
    const end = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const left = Math.max(0, end - Date.now());
      const n = this.c.poll(pfd, 1, Math.min(left, 2 ** 31 - 1));
      if (n < 0) {
        const e = this.c.errno();
        if (e === EINTR) continue;
        throw new SyError('SY_KERNEL', `Cannot wait for DHCP on "${this.ifName}": ${errnoText(e)}`);
      }
      if (n === 0) return null;
      const buf = Buffer.alloc(MAX_DATAGRAM);
      const from = Buffer.alloc(SOCKADDR_IN_BYTES);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(SOCKADDR_IN_BYTES);
      const got = this.c.recvfrom(this.fd, buf, buf.length, 0, from, len);
      if (got < 0) {
        const e = this.c.errno();
        if (e === EINTR) continue;
        throw new SyError('SY_KERNEL', `Cannot read DHCP on "${this.ifName}": ${errnoText(e)}`);
      }
      return { data: buf.subarray(0, got), from: `${from[4]}.${from[5]}.${from[6]}.${from[7]}`, port: from.readUInt16BE(2) };
    }
  }

  close(): void {
    if (this.fd >= 0) this.c.close(this.fd);
    this.fd = -1;
  }
}
