/**
 * The references of a document, found by shape: every `{"resourceRef": "..."}` object in its
 * properties is a link, whose source is the child it sits in (an ipConfiguration refers to a subnet)
 * or else the resource itself. The schema has already said which collection each field may point at;
 * the engine checks that the target exists and stores a back reference for each link.
 */
import type { ChildDoc, RefLink, ResourceDoc, ResourceKind } from './kind.js';

export function collectRefs(kind: ResourceKind, doc: ResourceDoc): RefLink[] {
  const out: RefLink[] = [];
  const childNames = new Set(kind.children.map((c) => c.name));
  for (const [name, value] of Object.entries(doc.properties)) {
    if (childNames.has(name) && Array.isArray(value)) {
      (value as ChildDoc[]).forEach((c, i) => walk(c.properties, `/properties/${name}/${i}/properties`, c.resourceRef, out));
    } else walk(value, `/properties/${name}`, doc.resourceRef, out);
  }
  // one link per (source, target): the same subnet named twice by one ipConfiguration is one use of it
  const seen = new Set<string>();
  return out.filter((r) => {
    const k = `${r.source} ${r.target}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** Iterative: the schema bounds the depth, but the walk need not rely on it. */
function walk(value: unknown, field: string, source: string, out: RefLink[]): void {
  const queue: [unknown, string][] = [[value, field]];
  // a queue, not a stack: links are found (and reported) in document order
  for (let i = 0; i < queue.length; i++) {
    const [v, f] = queue[i]!;
    if (typeof v !== 'object' || v === null) continue;
    const o = v as Record<string, unknown>;
    if (!Array.isArray(v) && typeof o.resourceRef === 'string' && Object.keys(o).length === 1) {
      out.push({ source, target: o.resourceRef, field: f });
      continue;
    }
    for (const [k, child] of Object.entries(o)) queue.push([child, `${f}/${k}`]);
  }
}
