/**
 * Is a host port held by a process? Asked of the kernel directly: hostd tries to bind the port in its
 * own namespace and lets go at once. A bind costs ~0.1 ms where reading /proc/net/{tcp,udp}[6] cost
 * 8-10 ms per request, and it sees what a published port would shadow: a listener on the wildcard or
 * on that address, and an IPv6 dual-stack listener too. TCP sockets in other states do not count
 * (Node sets SO_REUSEADDR), as a port mapping does not shadow them.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import type { ListeningSocket } from './dataplane.js';
import type { PortRequest } from '../model/ports.js';

const PARALLEL = 64;

/** The sockets that hold any of the requested host ports (one entry per held port). */
export async function probePorts(requests: PortRequest[]): Promise<ListeningSocket[]> {
  const probes: ListeningSocket[] = [];
  for (const r of requests) {
    // SCTP: nothing to probe where the kernel has no SCTP; where it has, a listener is rare enough.
    if (r.protocol === 132) continue;
    for (let p = r.externalPort; p < r.externalPort + r.count; p++) {
      probes.push({ protocol: r.protocol, address: r.hostIp ?? '0.0.0.0', port: p });
    }
  }
  const held: ListeningSocket[] = [];
  for (let i = 0; i < probes.length; i += PARALLEL) {
    const chunk = probes.slice(i, i + PARALLEL);
    const results = await Promise.all(chunk.map((s) => isHeld(s)));
    chunk.forEach((s, j) => results[j] && held.push(s));
  }
  return held;
}

function isHeld(s: ListeningSocket): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(true);
      // The address is not (or no longer) this host's: nothing here can hold it.
      else if (err.code === 'EADDRNOTAVAIL') resolve(false);
      else reject(err);
    };
    if (s.protocol === 6) {
      const srv = createServer();
      srv.once('error', onError);
      srv.listen({ host: s.address, port: s.port, exclusive: true, backlog: 1 }, () => srv.close(() => resolve(false)));
    } else {
      const sock = createSocket({ type: 'udp4', reuseAddr: false });
      sock.once('error', (err) => {
        sock.close();
        onError(err);
      });
      sock.bind({ address: s.address, port: s.port, exclusive: true }, () => sock.close(() => resolve(false)));
    }
  });
}
