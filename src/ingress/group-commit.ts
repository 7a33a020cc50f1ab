/**
 * Group commit: requests that arrive while a commit is running are written together in the
 * next one. Each caller's promise settles only after its own item is committed, so an
 * acknowledgement always follows durability, and one fsync serves many webhooks.
 */
export class GroupCommit<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private active = false;

  constructor(
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.active) {
        this.active = true;
        // Let the requests already parsed in this turn of the event loop join the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.commit(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i] as R));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.active = false;
  }
}
