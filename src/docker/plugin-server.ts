/**
 * Serves Docker's plugin protocol on unix sockets in the plugin directory (default
 * /run/docker/plugins): one socket per network driver (`nat.sock`, `l2bridge.sock`, `transparent.sock`,
 * `l2tunnel.sock`: named as Docker's `-d` names them)
 * and `switchyard.sock` for the IPAM driver. Docker POSTs `/<Method>` with a JSON body (empty for
 * calls without arguments) and expects JSON back; a failure is answered with HTTP 200 and the error
 * field of the protocol (`Err` for NetworkDriver calls, `Error` for IpamDriver calls), which Docker
 * shows to the user as it is. Docker has no timeout: every call is bounded here.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { asSyError, SyError } from '../errors.js';
import type { Logger } from '../hostd/reconciler.js';
import type { HostService } from '../hostd/service.js';
import { listenOnUnixSocket } from '../hostd/unix-socket.js';
import { networkDriver, Serial, type Handler, type NetworkDriver } from './driver.js';
import { ipamHandlers, IpamStore } from './ipam.js';
import { NETWORK_DRIVERS, type NetworkExtras } from './translate.js';
import { JsonRecords } from './json-records.js';

export const IPAM_DRIVER = 'switchyard';
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
const MAX_BODY = 4 * 1024 * 1024;

export interface DockerFrontDoorOptions {
  svc: HostService;
  pluginDir: string;
  /** where the IPAM pools are kept (a file in hostd's state directory; networks.json goes beside it) */
  ipamFile: string;
  log: Logger;
  /** bound of one call (default 60 s) */
  timeoutMs?: number;
  /** how often endpoints whose Docker sandbox vanished are looked for (default 30 s) */
  sweepIntervalMs?: number;
}

export class DockerFrontDoor {
  private readonly servers: { path: string; server: Server }[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DockerFrontDoorOptions) {}

  /** Listens on every plugin socket (a stale socket file from a previous run is replaced). */
  async start(): Promise<void> {
    const { svc, pluginDir, log } = this.opts;
    await mkdir(pluginDir, { recursive: true, mode: 0o755 });
    const serial = new Serial();
    const pools = new IpamStore(this.opts.ipamFile);
    const ipam = ipamHandlers(svc, pools, serial);
    const onStaleAddress = (ip: string) => pools.releaseAddress(ip);
    const extras = new JsonRecords<NetworkExtras>(join(dirname(this.opts.ipamFile), 'networks.json'), 'networks');
    const drivers = Object.keys(NETWORK_DRIVERS).map((d): [string, NetworkDriver] => [d, networkDriver(d, svc, serial, { log, onStaleAddress, extras })]);
    const sockets: [string, string[], Record<string, Handler>][] = [
      ...drivers.map(([d, drv]): [string, string[], Record<string, Handler>] => [d, ['NetworkDriver'], drv.handlers]),
      [IPAM_DRIVER, ['IpamDriver'], ipam],
    ];
    for (const [name, implementsList, handlers] of sockets) {
      const path = join(pluginDir, `${name}.sock`);
      const all: Record<string, Handler> = { ...handlers, 'Plugin.Activate': async () => ({ Implements: implementsList }) };
      const server = createServer((req, res) => void this.serve(name, all, req, res));
      server.on('clientError', answerClientError);
      // mode 0660 root:root from the first instant (Docker runs as root)
      await listenOnUnixSocket(server, path);
      this.servers.push({ path, server });
    }
    log.info(`serving Docker plugins ${sockets.map((s) => s[0]).join(', ')} in ${pluginDir}`);
    // Endpoints Docker forgot (dockerd killed while they ran) are found at start and then periodically.
    const sweep = () => {
      for (const [, drv] of drivers) drv.sweepStale().catch((e: Error) => log.warn(`docker: stale endpoint sweep failed: ${e.message}`));
    };
    sweep();
    this.sweepTimer = setInterval(sweep, this.opts.sweepIntervalMs ?? 30_000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const { path, server } of this.servers) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(path, { force: true }).catch(() => undefined);
    }
    this.servers.length = 0;
  }

  private async serve(plugin: string, handlers: Record<string, Handler>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.url ?? '').replace(/^\//, '');
    const errorField = method.startsWith('IpamDriver.') ? 'Error' : 'Err';
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    // own methods only: "/constructor" or "/__proto__" must not reach Object.prototype
    const handler = req.method === 'POST' && Object.hasOwn(handlers, method) ? handlers[method] : undefined;
    if (!handler) {
      req.resume();
      return send(404, { [errorField]: `${plugin}: no method ${req.method} /${method}` });
    }
    const t0 = Date.now();
    try {
      const text = await readBody(req);
      let body: unknown = {};
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new SyError('SY_BAD_REQUEST', `Request body is not valid JSON: ${(e as Error).message}`);
        }
      }
      const out = await withTimeout(handler(body), this.opts.timeoutMs ?? 60_000, method);
      send(200, out);
      if (process.env.SWITCHYARD_DOCKER_TRACE) this.opts.log.info(`docker ${plugin} ${method} ${Date.now() - t0} ms`);
    } catch (err) {
      const e = asSyError(err);
      this.opts.log.warn(`docker ${plugin} ${method} failed after ${Date.now() - t0} ms: ${e.message} (${e.code})`);
      send(200, { [errorField]: `switchyard: ${e.message} (${e.code})` });
    }
  }
}

/** What Node's HTTP parser refuses (a 30 kB URL, a broken request line) is answered in the protocol's shape too. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const text = JSON.stringify({ Err: `switchyard: not an HTTP request hostd can read (${err.code ?? err.message}) (SY_BAD_REQUEST)` });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new SyError('SY_BAD_REQUEST', 'Request body is too large'));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SyError('SY_TIMEOUT', `${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
