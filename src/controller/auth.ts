/**
 * Bearer tokens of the controller's APIs. A token names a tenant and a role (admin: everything;
 * tenant: its own resources; host: one server's host agent, on the southbound routes of that server
 * and nowhere else). Only the token's SHA-256 is stored, under its id, so neither the store nor a
 * backup of it gives a usable token; every request looks its token up in the store (no cache), so a
 * revoke takes effect at once on every replica. The comparison takes the same time however much of
 * the hash matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SyError } from '../errors.js';
import { tokenKey, TOKENS } from './keys.js';
import { RESOURCE_ID } from './schema.js';
import type { Store } from './store/store.js';

export type Role = 'admin' | 'tenant' | 'host';

export interface Principal {
  tokenId: string;
  tenant: string;
  role: Role;
  /** a host token's server (its resourceId) */
  server?: string;
}

interface TokenRecord {
  id: string;
  tenant: string;
  role: Role;
  server?: string;
  sha256: string;
  created: string;
}

const TOKEN = /^nc1\.([0-9a-f]{16})\.[A-Za-z0-9_-]{43}$/;
const TENANT = /^[A-Za-z0-9_.-]{1,128}$/;
/** a servers resourceId */
const SERVER = new RegExp(RESOURCE_ID);

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Makes a token and stores its hash; the token itself is returned once and kept nowhere. A host
 * token names its server (a servers resourceId, which need not exist yet) and belongs to the provider.
 */
export async function createToken(store: Store, tenant: string, role: string, server?: string): Promise<{ id: string; token: string }> {
  if (!TENANT.test(tenant)) throw new SyError('SY_BAD_REQUEST', `--tenant "${tenant}": use 1-128 letters, digits, "_", "." or "-"`);
  if (role !== 'admin' && role !== 'tenant' && role !== 'host') throw new SyError('SY_BAD_REQUEST', `--role "${role}": use admin, tenant or host`);
  if ((role === 'host') !== (server !== undefined)) throw new SyError('SY_BAD_REQUEST', role === 'host' ? 'A host token needs --server ID (the servers resource it acts for)' : '--server is for --role host');
  if (server !== undefined && !SERVER.test(server)) throw new SyError('SY_BAD_REQUEST', `--server "${server.slice(0, 200)}": use 1-128 of A-Z a-z 0-9 _ . ~ -, not starting with . ~ -`);
  const id = randomBytes(8).toString('hex');
  const token = `nc1.${id}.${randomBytes(32).toString('base64url')}`;
  const rec: TokenRecord = { id, tenant, role, ...(server !== undefined ? { server } : {}), sha256: sha256(token).toString('hex'), created: new Date().toISOString() };
  const r = await store.txn({ compare: [{ key: tokenKey(id), target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: tokenKey(id), value: JSON.stringify(rec) }] });
  if (!r.succeeded) throw new SyError('SY_INTERNAL', 'A token id came up twice; run the command again');
  return { id, token };
}

/** Revokes a token by its id (the part after "nc1."); SY_NOT_FOUND when there is none. */
export async function revokeToken(store: Store, id: string): Promise<void> {
  const { deleted } = await store.delete(tokenKey(id));
  if (!deleted) throw new SyError('SY_NOT_FOUND', `No token "${id}"`);
}

export async function listTokens(store: Store): Promise<Omit<TokenRecord, 'sha256'>[]> {
  return (await store.range(TOKENS)).kvs.map((kv) => {
    const { sha256: _hash, ...rest } = JSON.parse(kv.value) as TokenRecord;
    return rest;
  });
}

/** Who an Authorization header speaks for; SY_UNAUTHORIZED when nobody. */
export async function authenticate(store: Store, header: string | undefined): Promise<Principal> {
  const m = /^Bearer (\S+)$/i.exec(header ?? '');
  const t = m ? TOKEN.exec(m[1]!) : null;
  const kv = t ? await store.get(tokenKey(t[1]!)) : undefined;
  const rec = kv ? (JSON.parse(kv.value) as TokenRecord) : undefined;
  const want = rec ? Buffer.from(rec.sha256, 'hex') : Buffer.alloc(32);
  const ok = timingSafeEqual(sha256(m?.[1] ?? ''), want) && rec !== undefined;
  if (!ok || !rec) throw new SyError('SY_UNAUTHORIZED', 'This API needs "Authorization: Bearer <token>" with a token from "switchyard controller token create"');
  return { tokenId: rec.id, tenant: rec.tenant, role: rec.role, ...(rec.server !== undefined ? { server: rec.server } : {}) };
}
