/**
 * `switchyard nc get|put|delete PATH`: the Network Controller's northbound API from the command line.
 * PATH is a resourceRef (`/virtualNetworks/v1`, `/virtualNetworks/v1/subnets`); collections print as a
 * table (`-o json`: the raw answer), a resource as its JSON document, so `nc get X -o json > f` and
 * `nc put X -f f` round-trip. Exit codes: 0 done, 1 refused (the message says why), 2 wrong usage,
 * 3 controller unreachable.
 */
import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatTable } from './table.js';
import { SseParser } from '../http/sse-parser.js';

export const NC_USAGE = `Usage: switchyard nc get|put|delete PATH [-f FILE] [--if-match ETAG] [--controller URL] [--token-file FILE]
                     [--ca-file FILE] [-o table|json]
       switchyard nc watch [COLLECTION] [--from REVISION] [--count N] [-o table|json] [--controller URL] ...

  PATH               a resourceRef: /virtualNetworks, /virtualNetworks/v1, /virtualNetworks/v1/subnets/s1
  -f FILE            the document to PUT ("-": standard input)
  --if-match ETAG    write only if the resource is still at ETAG (412 otherwise)
  --controller URL   http(s)://IP:PORT (default $SWITCHYARD_CONTROLLER, else http://127.0.0.1:7080)
  --token-file FILE  the bearer token (default $SWITCHYARD_NC_TOKEN)
  --ca-file FILE     the CA that signed the controller's certificate (https)
  watch              one line per change the token may see (REVISION EVENT RESOURCEREF ETAG), or the
                     events' JSON with -o json, until interrupted; --from starts at a revision (a
                     list's X-Sy-Revision + 1), --count stops after N changes`;

class Usage extends Error {}

interface Answer {
  status: number;
  body: unknown;
}

export async function ncMain(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (e instanceof Usage) {
      console.error(`Error: ${e.message}\n\n${NC_USAGE}`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(err.code ?? '')) {
      console.error(`Error: cannot reach the controller: ${err.message} (is "switchyard controller" running? set --controller or SWITCHYARD_CONTROLLER)`);
      return 3;
    }
    console.error(`Error: ${err.message}`);
    return 1;
  }
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        file: { type: 'string', short: 'f' },
        'if-match': { type: 'string' },
        controller: { type: 'string' },
        'token-file': { type: 'string' },
        'ca-file': { type: 'string' },
        output: { type: 'string', short: 'o', default: 'table' },
        help: { type: 'boolean', short: 'h' },
        from: { type: 'string' },
        count: { type: 'string' },
      },
    });
  } catch (e) {
    throw new Usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(NC_USAGE);
    return 0;
  }
  const [verb, path, extra] = positionals;
  if (verb === 'watch') return watchCommand(values, path, extra);
  if (values.from !== undefined || values.count !== undefined) throw new Usage('--from and --count are for nc watch');
  if (!verb || !['get', 'put', 'delete'].includes(verb) || !path || extra !== undefined) throw new Usage('nc get|put|delete PATH');
  if (values.output !== 'table' && values.output !== 'json') throw new Usage(`-o ${values.output}: use table or json`);
  if ((verb === 'put') !== (values.file !== undefined)) throw new Usage(verb === 'put' ? 'nc put needs -f FILE' : `-f is for put, not ${verb}`);
  const { base, token, ca } = await target(values);
  const body = values.file === undefined ? undefined : values.file === '-' ? await readStdin() : await readFile(values.file, 'utf8');
  const rel = path.replace(/^\/?(networking\/v1\/?)?/, '/');
  const ans = await send(base, verb.toUpperCase(), `/networking/v1${rel === '/' ? '' : rel}`, token, body, values['if-match'], ca);
  if (ans.status >= 400) {
    const e = (ans.body ?? {}) as { code?: string; message?: string; syCode?: string };
    console.error(`Error: ${e.message ?? `HTTP ${ans.status}`} (${ans.status} ${e.code ?? ''}${e.syCode ? `, ${e.syCode}` : ''})`);
    return 1;
  }
  if (verb === 'delete') {
    console.log(`deleted ${rel}`);
    return 0;
  }
  const doc = ans.body as { value?: unknown };
  if (values.output === 'table' && Array.isArray(doc?.value)) console.log(formatTable((doc.value as Doc[]).map(row)));
  else console.log(JSON.stringify(doc, null, 2));
  return 0;
}

type Options = { controller?: string | undefined; 'token-file'?: string | undefined; 'ca-file'?: string | undefined; output?: string | undefined; from?: string | undefined; count?: string | undefined };

/** Where the controller is and how to speak to it: --controller, the token, the CA. */
async function target(values: Options): Promise<{ base: URL; token: string; ca: Buffer | undefined }> {
  const base = new URL(values.controller ?? process.env.SWITCHYARD_CONTROLLER ?? 'http://127.0.0.1:7080');
  if ((base.protocol !== 'http:' && base.protocol !== 'https:') || base.pathname !== '/' || base.search) throw new Usage(`--controller ${base.href}: use http(s)://IP:PORT`);
  const token = values['token-file'] !== undefined ? (await readFile(values['token-file'], 'utf8')).trim() : process.env.SWITCHYARD_NC_TOKEN;
  if (!token) throw new Usage('the controller needs a token: --token-file FILE or SWITCHYARD_NC_TOKEN');
  const ca = values['ca-file'] !== undefined ? await readFile(values['ca-file']) : undefined;
  return { base, token, ca };
}

/** `nc watch`: the controller's change stream, a line per change, until interrupted or --count. */
async function watchCommand(values: Options, collection: string | undefined, extra: string | undefined): Promise<number> {
  if (extra !== undefined) throw new Usage('nc watch [COLLECTION]');
  if (values.output !== 'table' && values.output !== 'json') throw new Usage(`-o ${values.output}: use table or json`);
  if (values.from !== undefined && !/^\d{1,15}$/.test(values.from)) throw new Usage(`--from ${values.from}: a revision number`);
  if (values.count !== undefined && !/^[1-9]\d{0,8}$/.test(values.count)) throw new Usage(`--count ${values.count}: a positive number`);
  const { base, token, ca } = await target(values);
  const query = new URLSearchParams({ ...(collection ? { collection: collection.replace(/^\//, '') } : {}), ...(values.from ? { fromRevision: values.from } : {}) }).toString();
  let left = values.count === undefined ? Infinity : Number(values.count);
  const lib = base.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || (base.protocol === 'https:' ? 443 : 80), path: `/networking/v1/watch${query ? `?${query}` : ''}`, ...(ca ? { ca } : {}), headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let message = Buffer.concat(chunks).toString('utf8');
            try {
              message = (JSON.parse(message) as { message?: string }).message ?? message;
            } catch {
              // the text as it is
            }
            console.error(`Error: ${message} (${res.statusCode})`);
            resolve(1);
          });
          return;
        }
        const parser = new SseParser((e) => {
          const d = JSON.parse(e.data) as { revision?: number; resourceRef?: string; resource?: { etag?: string }; message?: string; syCode?: string };
          if (e.event === 'error') {
            console.error(`Error: the stream ended: ${d.message ?? ''} (${d.syCode ?? ''})`);
            req.destroy();
            resolve(1);
            return;
          }
          if (e.event === 'ready') {
            if (values.output === 'table') console.error(`watching from revision ${String((d.revision ?? 0) + 1)}`);
            return;
          }
          console.log(values.output === 'json' ? e.data : [String(d.revision), e.event, d.resourceRef, d.resource?.etag ?? ''].join(' ').trimEnd());
          if (--left <= 0) {
            req.destroy();
            resolve(0);
          }
        });
        res.on('data', (c: Buffer) => parser.push(c));
        res.on('end', () => {
          console.error('Error: the controller closed the stream');
          resolve(3);
        });
      },
    );
    req.on('error', (e) => (left <= 0 ? resolve(0) : reject(e)));
    req.end();
  });
}

type Doc = { resourceId?: string; etag?: string; resourceMetadata?: { tenantId?: string }; properties?: Record<string, unknown> };

/** One line per resource: its id, state, etag, tenant and the property a reader looks for first. */
function row(d: Doc): Record<string, string> {
  const p = d.properties ?? {};
  const ipcs = (p.ipConfigurations as { properties?: { privateIPAddress?: string } }[] | undefined) ?? [];
  const summary =
    (p.addressSpace as { addressPrefixes?: string[] } | undefined)?.addressPrefixes?.join(',') ??
    (p.addressPrefix as string | undefined) ??
    (p.privateMacAddress !== undefined ? [p.privateMacAddress, ...ipcs.map((c) => c.properties?.privateIPAddress)].filter(Boolean).join(' ') : undefined) ??
    (p.startMacAddress !== undefined ? `${String(p.startMacAddress)}..${String(p.endMacAddress)}` : undefined) ??
    (p.ipAddress as string | undefined) ??
    (p.privateIPAddress as string | undefined) ??
    (p.type !== undefined ? `${String(p.type)}${p.priority !== undefined ? ` ${String(p.action)} ${String(p.priority)}` : ''}` : '');
  return {
    'RESOURCE ID': d.resourceId ?? '',
    STATE: String(p.provisioningState ?? ''),
    ETAG: d.etag ?? '',
    TENANT: d.resourceMetadata?.tenantId ?? '',
    SUMMARY: summary,
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(base: URL, method: string, path: string, token: string, body: string | undefined, ifMatch: string | undefined, ca: Buffer | undefined): Promise<Answer> {
  const lib = base.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      {
        host: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        method,
        path,
        ...(ca ? { ca } : {}),
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          ...(ifMatch !== undefined ? { 'if-match': ifMatch } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${base.origin} within 60 s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}
