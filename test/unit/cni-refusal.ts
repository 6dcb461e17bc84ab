/** The CniError a call throws (a test failure when it throws nothing, or something else). */
import assert from 'node:assert/strict';
import { CniError } from '../../src/cni/errors.js';

export function refusal(f: () => unknown): CniError {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  assert.fail('expected a CNI error');
}
