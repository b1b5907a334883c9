// Runs tasks at most `limit` at a time, always starting the biggest one waiting: a part
// holding one big file takes longest and must not be the one left running alone at the
// end. Tasks may be added while others run (the walk feeds it as it goes). The first
// failure stops new tasks from starting; finish() reports it once the running ones end.

export class BiggestFirst<T extends { bytes: number }> {
  readonly #limit: number;
  readonly #run: (task: T) => Promise<void>;
  readonly #waiting: T[] = [];
  #running = 0;
  #failure: { error: unknown } | undefined;
  #settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  constructor(limit: number, run: (task: T) => Promise<void>) {
    this.#limit = Math.max(1, limit);
    this.#run = run;
  }

  /** Queues a task; throws the first failure instead once there is one. */
  add(task: T): void {
    if (this.#failure) throw this.#failure.error;
    this.#waiting.push(task);
    this.#pump();
  }

  /** Resolves when every task has run, or rejects with the first failure. */
  finish(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
      this.#settleIfDone();
    });
  }

  #pump(): void {
    while (this.#running < this.#limit && this.#waiting.length > 0 && !this.#failure) {
      let biggest = 0;
      this.#waiting.forEach((task, i) => {
        if (task.bytes > (this.#waiting[biggest] as T).bytes) biggest = i;
      });
      const [task] = this.#waiting.splice(biggest, 1) as [T];
      this.#running++;
      this.#run(task).then(
        () => this.#ended(),
        (error: unknown) => {
          this.#failure ??= { error };
          this.#ended();
        },
      );
    }
  }

  #ended(): void {
    this.#running--;
    this.#pump();
    this.#settleIfDone();
  }

  #settleIfDone(): void {
    if (!this.#settle || this.#running > 0) return;
    if (this.#failure) this.#settle.reject(this.#failure.error);
    else if (this.#waiting.length === 0) this.#settle.resolve();
  }
}
