/**
 * Group commit: requests that arrive together are written in one commit, and each caller's
 * promise settles only after its own item is committed, so an acknowledgement always follows
 * durability and one fsync serves many webhooks.
 *
 * Up to `maxInFlight` commits run at once: the next batch is written while the previous one
 * waits for its fsync (the store lets one fsync cover both when they overlap). Items that
 * arrive while all slots are busy wait and go together in the next batch.
 */
export class GroupCommit<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= (this.options.maxInFlight ?? 4)) return;
    this.scheduled = true;
    // Let the requests already parsed in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startBatch();
    });
  }

  private startBatch(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
    this.inFlight++;
    this.commit(batch.map((b) => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i] as R)),
      (error: unknown) => batch.forEach((b) => b.reject(error)),
    ).finally(() => {
      this.inFlight--;
      this.schedule();
    });
    this.schedule();
  }
}
