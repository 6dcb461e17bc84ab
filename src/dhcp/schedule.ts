/**
 * When hostd must next act on its DHCP leases: pure, no timers. hostd keeps one LeaseState per
 * endpoint, asks nextLeaseAction for the earliest one, sets one timer for it and asks again after
 * acting. The rules are RFC 2131 4.4.5's: renew with the server from T1, rebind with any server from
 * T2, give the address up at expiry; after a failed attempt wait half the time left to the next
 * phase, at least 60 s, but never past that phase's start.
 */
import type { Lease } from './lease.js';

export type LeaseActionKind = 'renew' | 'rebind' | 'expire';

export interface LeaseState {
  lease: Lease;
  /** when the last renew/rebind attempt for this lease failed (epoch ms); absent after a success */
  failedAt?: number;
}

export interface LeaseAction<K> {
  key: K;
  /** renew: renewLease (it unicasts); rebind: renewLease (it broadcasts); expire: remove the address, acquire anew */
  action: LeaseActionKind;
  /** epoch ms; at or before `now` means due now */
  at: number;
}

/** RFC 2131 4.4.5: the shortest wait between retransmissions of a renewal. */
export const MIN_RETRY_MS = 60_000;

/** The kind of action due at time `t` for `lease`. */
export function phaseAt(lease: Lease, t: number): LeaseActionKind {
  return t >= lease.expiresAt ? 'expire' : t >= lease.rebindAt ? 'rebind' : 'renew';
}

/** When `state` next needs an action, and which. */
export function leaseAction(state: LeaseState): { action: LeaseActionKind; at: number } {
  const { lease, failedAt } = state;
  let at = lease.renewAt;
  if (failedAt !== undefined && failedAt >= lease.renewAt) {
    // Retry within the phase the failure happened in, bounded by the start of the next phase.
    const phaseEnd = failedAt >= lease.rebindAt ? lease.expiresAt : lease.rebindAt;
    at = Math.min(phaseEnd, failedAt + Math.max(MIN_RETRY_MS, (phaseEnd - failedAt) / 2));
  }
  return { action: phaseAt(lease, at), at };
}

/** The earliest action over all leases, or null when there are none. Ties go to the first key. */
export function nextLeaseAction<K>(states: Iterable<readonly [K, LeaseState]>): LeaseAction<K> | null {
  let best: LeaseAction<K> | null = null;
  for (const [key, state] of states) {
    const a = leaseAction(state);
    if (!best || a.at < best.at) best = { key, ...a };
  }
  return best;
}
