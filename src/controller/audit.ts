/**
 * The audit log: one store key per change, written in the same txn as the change itself, so that no
 * change goes unrecorded and no record names a change that did not land. The key's own modRevision is
 * the etag the change produced (the txn writes both at one revision).
 */
import { randomBytes } from 'node:crypto';
import type { Principal } from './auth.js';
import { AUDIT } from './keys.js';
import { etagOf } from './document.js';
import type { Store } from './store/store.js';
import type { TxnContext } from './txn-context.js';

interface AuditRecord {
  time: string;
  tokenId: string;
  tenant: string;
  role: string;
  method: 'PUT' | 'DELETE';
  resourceRef: string;
  etagBefore: string | null;
  /** the stored resource is gone (a DELETE of a top-level resource; a child's DELETE rewrites its parent) */
  gone: boolean;
}

export interface AuditEntry extends AuditRecord {
  /** null when the resource is gone */
  etagAfter: string | null;
}

export function recordChange(txn: TxnContext, who: Principal, method: 'PUT' | 'DELETE', resourceRef: string, revisionBefore: number | undefined, gone: boolean): void {
  const now = Date.now();
  const key = `${AUDIT}${String(now).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
  const rec: AuditRecord = {
    time: new Date(now).toISOString(),
    tokenId: who.tokenId,
    tenant: who.tenant,
    role: who.role,
    method,
    resourceRef,
    etagBefore: revisionBefore === undefined ? null : etagOf(revisionBefore),
    gone,
  };
  txn.put(key, JSON.stringify(rec));
}

/** The newest `limit` entries, oldest first. */
export async function readAudit(store: Store, limit: number): Promise<AuditEntry[]> {
  const { kvs } = await store.range(AUDIT);
  return kvs.slice(-limit).map((kv) => {
    const rec = JSON.parse(kv.value) as AuditRecord;
    return { ...rec, etagAfter: rec.gone ? null : etagOf(kv.modRevision) };
  });
}
