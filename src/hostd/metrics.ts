/**
 * GET /metrics: Prometheus text exposition (version 0.0.4) of what hostd owns — objects, reconcile
 * passes and failures, each endpoint's traffic (its veth's host side: what it received is what the
 * host side sent), and every ACL rule's hits (the default of each direction included). Read fresh
 * from the kernel on every scrape: two processes, whatever the number of rules.
 */
import type { HostService } from './service.js';
import { vethName } from '../model/names.js';
import { aclHits, effectiveAcls } from '../model/acl.js';

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export async function renderMetrics(svc: HostService): Promise<string> {
  const [links, rules] = await Promise.all([svc.dataplane.linkStats(), svc.dataplane.allAclCounters()]);
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${label(x)}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${v}`);
    }
  };
  const st = svc.state;
  metric('switchyard_networks', 'gauge', 'Networks hostd holds.', [[{}, st.networks.size]]);
  metric('switchyard_endpoints', 'gauge', 'Endpoints hostd holds.', [[{}, st.endpoints.size]]);
  metric('switchyard_reconcile_passes_total', 'counter', 'Reconciler passes since hostd started.', [[{}, svc.reconciler.passes]]);
  const errors = [...svc.reconciler.status.values()].filter((s) => s.state === 'error').length;
  metric('switchyard_objects_in_error', 'gauge', 'Objects the last pass could not apply.', [[{}, errors]]);

  const byVeth = new Map(links.map((l) => [l.name, l]));
  const traffic = [...st.endpoints.values()].flatMap((e) => {
    const l = byVeth.get(vethName(e.id));
    if (!l) return [];
    const net = st.networks.get(e.networkId)?.name ?? '';
    return [{ labels: { endpoint: e.name, network: net }, l }];
  });
  metric('switchyard_endpoint_sent_bytes_total', 'counter', 'Bytes the endpoint sent (host side of its veth: received).', traffic.map((t) => [t.labels, t.l.rxBytes]));
  metric('switchyard_endpoint_sent_packets_total', 'counter', 'Packets the endpoint sent.', traffic.map((t) => [t.labels, t.l.rxPackets]));
  metric('switchyard_endpoint_received_bytes_total', 'counter', 'Bytes the endpoint received (host side of its veth: sent).', traffic.map((t) => [t.labels, t.l.txBytes]));
  metric('switchyard_endpoint_received_packets_total', 'counter', 'Packets the endpoint received.', traffic.map((t) => [t.labels, t.l.txPackets]));

  const byOwner = new Map<string, typeof rules>();
  for (const r of rules) {
    const mine = byOwner.get(r.owner);
    if (mine) mine.push(r);
    else byOwner.set(r.owner, [r]);
  }
  const hits = [...st.endpoints.values()].flatMap((e) => {
    const acls = effectiveAcls(e.policies.acls, st.networks.get(e.networkId)?.acls);
    if (!acls.length) return [];
    return aclHits(acls, byOwner.get(e.ip) ?? []).map((r) => ({ labels: { endpoint: e.name, direction: r.direction, rule: r.id }, r }));
  });
  metric('switchyard_acl_rule_packets_total', 'counter', 'Packets of new flows an ACL rule (or a direction\'s default, rule="default") decided.', hits.map((h) => [h.labels, h.r.packets]));
  metric('switchyard_acl_rule_bytes_total', 'counter', 'Bytes of those packets.', hits.map((h) => [h.labels, h.r.bytes]));
  return lines.join('\n') + '\n';
}
