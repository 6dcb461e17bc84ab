/**
 * How deep a parsed JSON document nests. Every front door bounds it: no HCN, Docker or CNI document
 * nests deeper than a few levels, and a value nested a million levels deep (a 2 MB body of "[")
 * would overflow the stack of any recursive code that touches it later (JSON.stringify in an error
 * message, a schema check). Iterative, so it cannot overflow itself.
 */

/** The deepest a request body may nest; the deepest real document (a CNI prevResult) needs about 6. */
export const MAX_JSON_DEPTH = 32;

/** Whether `value` nests more than `max` levels of arrays and objects. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [object, number][] = typeof value === 'object' && value !== null ? [[value, 1]] : [];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
