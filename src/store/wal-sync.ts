import { fdatasync } from 'node:fs';

export type Fsync = (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;

/**
 * Group fsync of SQLite's write-ahead log, off the event loop. `sync()` resolves once an
 * fdatasync that started after the call has finished, so everything written before the call is
 * on disk. Callers that arrive while an fsync runs share the next one: a thousand commits made
 * during one fsync cost one more fsync, not a thousand.
 */
export class WalSync {
  /** The fsync running now, if any. */
  private running: Promise<void> | null = null;
  /** The fsync to run after it, shared by everyone who asked meanwhile. */
  private queued: Promise<void> | null = null;

  constructor(
    private readonly fd: () => number | null,
    private readonly fsync: Fsync = fdatasync,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return (this.running = this.start());
    this.queued ??= this.running.then(
      () => this.next(),
      () => this.next(),
    );
    return this.queued;
  }

  private next(): Promise<void> {
    this.queued = null;
    return (this.running = this.start());
  }

  private start(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const fd = this.fd();
      if (fd === null) return resolve();
      // libuv's thread pool runs the fsync; the event loop goes on serving requests.
      this.fsync(fd, (error) => (error ? reject(error) : resolve()));
    });
    const clear = () => {
      if (this.running === done) this.running = null;
    };
    done.then(clear, clear);
    return done;
  }
}
