/**
 * A stack of undo steps. Whatever the benchmark creates (a namespace, a process, a temp dir) pushes
 * its undo here right after creation; `run` unwinds in reverse order, keeps going past failures and
 * runs each step once, so it can be called from a `finally` and from the Ctrl-C handler alike.
 * Scopes nest: a section's teardown is a child of the run's, and unwinding the run unwinds the
 * sections still open.
 */

interface Step {
  label: string;
  undo: () => Promise<void>;
}

export class Teardown {
  private readonly steps: Step[] = [];
  private readonly children = new Set<Teardown>();
  private running: Promise<string[]> | undefined;

  constructor(private readonly parent?: Teardown) {
    parent?.children.add(this);
  }

  /** Registers an undo step; steps run last-in, first-out. */
  defer(label: string, undo: () => Promise<void>): void {
    this.steps.push({ label, undo });
  }

  /** A nested scope: unwound by its own `run` or, if still open, by the parent's. */
  child(): Teardown {
    return new Teardown(this);
  }

  /** Unwinds children first, then own steps; resolves with the failures (label: message). */
  run(): Promise<string[]> {
    this.running ??= this.unwind();
    return this.running;
  }

  private async unwind(): Promise<string[]> {
    const failures: string[] = [];
    for (const c of [...this.children].reverse()) failures.push(...(await c.run()));
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (e) {
        failures.push(`${step.label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.parent?.children.delete(this);
    return failures;
  }
}
