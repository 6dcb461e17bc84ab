/**
 * The optional TCP listener's access: a bearer token read once from a file that only its owner (and
 * group) may read, compared in constant time; and the listen address, which must be an IP literal
 * (no name to resolve, so what is checked is what is bound).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';

/** Visible ASCII (RFC 6750's token68 and more), at least 16 characters. */
const TOKEN = /^[\x21-\x7e]{16,4096}$/;

/** Reads the token; refuses a file others may read or write, and a token too short to guess hard. */
export async function readTokenFile(path: string): Promise<string> {
  const st = await stat(path).catch((e: Error) => {
    throw new Error(`--token-file ${path}: ${e.message}`);
  });
  if (st.mode & 0o007) throw new Error(`--token-file ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  const token = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (!TOKEN.test(token)) throw new Error(`--token-file ${path}: the token must be one line of at least 16 visible ASCII characters (e.g. openssl rand -hex 32)`);
  return token;
}

/** Whether an Authorization header carries `token` as a bearer token; the time taken does not depend on how much of it matched. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header ?? '');
  const given = createHash('sha256').update(m?.[1] ?? '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

/** "127.0.0.1:7070", "[::1]:7070" → host and port. */
export function parseListenAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  const host = m ? (m[1] ?? m[2]!) : '';
  const port = m ? Number(m[3]) : 0;
  if (!m || !isIP(host) || port < 1 || port > 65535) throw new Error(`--listen ${JSON.stringify(s)}: use IP:PORT or [IPv6]:PORT (an address, not a name)`);
  return { host, port };
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1). */
export function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host);
}
