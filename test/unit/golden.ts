/**
 * Golden files: generated text (plans, rulesets, data-plane dumps) compared with a reviewed copy
 * under test/golden/. Run with UPDATE_GOLDEN=1 to write the files instead, then read the diff.
 * Paths are resolved from the repository root, which is where the tests are run from.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function goldenPath(name: string): string {
  return join(process.cwd(), 'test', 'golden', name);
}

/** Compares `text` with test/golden/NAME, or writes it there when UPDATE_GOLDEN=1. */
export function expectGolden(name: string, text: string): void {
  const path = goldenPath(name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  if (!existsSync(path)) {
    assert.fail(`Golden file "${path}" does not exist; run the tests from the repository root with UPDATE_GOLDEN=1 to create it`);
  }
  const want = readFileSync(path, 'utf8');
  if (want === text) return;
  assert.equal(
    text,
    want,
    `Output differs from golden "test/golden/${name}" ${firstDifference(want, text)}\nIf the change is intended, refresh it with UPDATE_GOLDEN=1 and review the diff.`,
  );
}

/** Where two texts part, as "at line N: expected ... got ...", so a long golden mismatch is readable. */
function firstDifference(want: string, got: string): string {
  const a = want.split('\n');
  const b = got.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return `at line ${i + 1}:\n  golden: ${a[i] === undefined ? '(end of file)' : JSON.stringify(a[i])}\n  actual: ${b[i] === undefined ? '(end of file)' : JSON.stringify(b[i])}`;
    }
  }
  return '(no line differs)';
}
