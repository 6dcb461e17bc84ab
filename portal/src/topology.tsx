/**
 * The topology as a picture: virtual networks → subnets → NICs (by their ipConfigurations' subnet)
 * → servers (by the NIC's server), drawn as SVG from the live cache, so it redraws when the watch
 * brings a change. On a wide screen four columns of boxes joined by curves; on a phone an indented
 * tree (one box per row, a NIC under each subnet it has an address in), which needs no sideways
 * scrolling. Text goes in as SVG text nodes (escaped).
 */
import { useEffect, useState } from 'preact/hooks';
import type { Doc } from './api.js';
import { tone } from './forms.js';
import type { Session } from './main.js';
import { children } from './parts.js';

const COL_W = 220;
const BOX_W = 180;
const BOX_H = 40;
const GAP = 14;
const TOP = 36;

const NARROW = '(max-width: 720px)';
const INDENT = 22;
const TREE_W = 340;

interface Box {
  /** unique in the picture (in the tree, the path to the node) */
  key: string;
  /** the resource it stands for */
  ref: string;
  col: number;
  row: number;
  title: string;
  sub: string;
  href?: string;
  state?: string;
}

function useNarrow(): boolean {
  const [narrow, setNarrow] = useState(() => matchMedia(NARROW).matches);
  useEffect(() => {
    const q = matchMedia(NARROW);
    const f = () => setNarrow(q.matches);
    q.addEventListener('change', f);
    return () => q.removeEventListener('change', f);
  }, []);
  return narrow;
}

export function Topology(props: { session: Session }) {
  const { live } = props.session;
  const tree = useNarrow();
  const boxes: Box[] = [];
  const edges: [string, string][] = [];
  const rows = [0, 0, 0, 0];
  /** the box's key; a column layout draws each resource once, a tree once under each parent */
  const add = (b: Omit<Box, 'row' | 'key'>, parent?: string): string => {
    const key = tree && parent ? `${parent}>${b.ref}` : b.ref;
    if (!boxes.some((x) => x.key === key)) boxes.push({ ...b, key, row: tree ? rows[0]!++ : rows[b.col]!++ });
    if (parent) edges.push([parent, key]);
    return key;
  };
  const status = (ref: string, p: Record<string, unknown>) => (live.reportOf(ref, p) as { status?: string } | undefined)?.status;
  const nics = live.docs('networkInterfaces');
  const nicsOf = (subnetRef: string): Doc[] => nics.filter((n) => children(n, 'ipConfigurations').some((c) => (c.properties.subnet as { resourceRef?: string } | undefined)?.resourceRef === subnetRef));
  for (const vn of live.docs('virtualNetworks')) {
    const v = add({ ref: vn.resourceRef, col: 0, title: vn.resourceId, sub: ((vn.properties.addressSpace as { addressPrefixes?: string[] })?.addressPrefixes ?? []).join(', '), href: `#/c/virtualNetworks/${vn.resourceId}` });
    for (const sn of children(vn, 'subnets')) {
      const s = add({ ref: sn.resourceRef, col: 1, title: sn.resourceId, sub: String(sn.properties.addressPrefix ?? ''), href: `#/c/virtualNetworks/${vn.resourceId}` }, v);
      for (const nic of nicsOf(sn.resourceRef)) {
        const ips = children(nic, 'ipConfigurations')
          .map((c) => String(c.properties.privateIPAddress ?? ''))
          .join(', ');
        const n = add({ ref: nic.resourceRef, col: 2, title: nic.resourceId, sub: ips, href: `#/c/networkInterfaces/${nic.resourceId}`, ...optional(status(nic.resourceRef, nic.properties)) }, s);
        const server = (nic.properties.server as { resourceRef?: string } | undefined)?.resourceRef;
        if (server) {
          const doc = live.doc('servers', server.split('/')[2] ?? '');
          // a tenant cannot read servers: it sees the name its NIC refers to
          add({ ref: server, col: 3, title: server.split('/')[2] ?? server, sub: doc ? 'server' : 'server (provider)', ...(doc ? { href: `#/c/servers/${doc.resourceId}` } : {}), ...optional(doc && status(server, doc.properties)) }, n);
        }
      }
    }
  }
  // an admin sees every host, also those no NIC is placed on yet
  for (const sv of live.docs('servers')) {
    if (!boxes.some((b) => b.ref === sv.resourceRef)) add({ ref: sv.resourceRef, col: tree ? 0 : 3, title: sv.resourceId, sub: 'server, no NICs', href: `#/c/servers/${sv.resourceId}`, ...optional(status(sv.resourceRef, sv.properties)) });
  }
  const at = new Map(boxes.map((b) => [b.key, b]));
  const top = tree ? 8 : TOP;
  const height = top + Math.max(1, ...rows) * (BOX_H + GAP);
  const width = tree ? TREE_W : 10 + 4 * COL_W;
  const x = (b: Box) => 10 + b.col * (tree ? INDENT : COL_W);
  const y = (b: Box) => top + b.row * (BOX_H + GAP);
  const w = (b: Box) => (tree ? TREE_W - 12 - x(b) : BOX_W);
  /** column layout: a curve from the right side to the left side; tree: an elbow down from the parent's left */
  const edge = (p: Box, q: Box) =>
    tree
      ? `M${x(p) + INDENT / 2},${y(p) + BOX_H} V${y(q) + BOX_H / 2} H${x(q)}`
      : `M${x(p) + BOX_W},${y(p) + BOX_H / 2} C${x(p) + BOX_W + 20},${y(p) + BOX_H / 2} ${x(q) - 20},${y(q) + BOX_H / 2} ${x(q)},${y(q) + BOX_H / 2}`;
  return (
    <section>
      <h1>Topology</h1>
      <p class="hint">Virtual networks → subnets → network interfaces → servers, from the live data.</p>
      {boxes.length === 0 ? (
        <p class="empty">No virtual networks yet.</p>
      ) : (
        <div class="topology-wrap">
          <svg class="topology" role="img" aria-label={`Topology: ${boxes.length} nodes`} viewBox={`0 0 ${width} ${height}`} width={width} height={height} data-testid="topology">
            {!tree && ['Virtual networks', 'Subnets', 'Network interfaces', 'Servers'].map((t, i) => (
              <text key={t} class="col-title" x={10 + i * COL_W} y={18}>
                {t}
              </text>
            ))}
            {edges.map(([a, b]) => {
              const p = at.get(a)!;
              const q = at.get(b)!;
              return <path key={`${a}|${b}`} class="edge" d={edge(p, q)} />;
            })}
            {boxes.map((b) => {
              const body = (
                <g class={`node col${b.col}${b.state ? ` state-${tone(b.state)}` : ''}`} data-ref={b.ref}>
                  <rect x={x(b)} y={y(b)} width={w(b)} height={BOX_H} rx={6} />
                  <text x={x(b) + 8} y={y(b) + 16} class="title">
                    {clip(b.title, 22)}
                  </text>
                  <text x={x(b) + 8} y={y(b) + 32} class="sub">
                    {clip(b.state ? `${b.sub} · ${b.state}` : b.sub, 28)}
                  </text>
                </g>
              );
              return b.href ? (
                <a key={b.key} href={b.href}>
                  {body}
                </a>
              ) : (
                <g key={b.key}>{body}</g>
              );
            })}
          </svg>
        </div>
      )}
    </section>
  );
}

const optional = (state: string | undefined) => (state ? { state } : {});
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
