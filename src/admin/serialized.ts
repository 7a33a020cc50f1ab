/**
 * One call at a time: the doctor's CRM check briefly wraps the global fetch to read the CRM's
 * headers, so two overlapping checks must not interleave their wrap and restore.
 */
export function serialized<T>(run: () => Promise<T>): () => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return () => {
    const next = last.then(run, run);
    last = next.catch(() => undefined);
    return next;
  };
}
