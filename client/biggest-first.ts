// Runs tasks at most `limit` at a time, always starting the biggest one waiting: a part
// holding one big file takes longest and must not be the one left running alone at the
// end. Beyond the first task running, the tasks' weights (the memory each holds) stay
// within a budget: the biggest waiting task waits for room rather than letting a smaller
// one pass it. Tasks may be added while others run (the walk feeds it as it goes). The
// first failure stops new tasks from starting; finish() reports it once the running ones end.

export interface Budget<T> {
  bytes: number;
  /** what a task holds while it runs */
  weigh: (task: T) => number;
}

export class BiggestFirst<T extends { bytes: number }> {
  readonly #limit: number;
  readonly #run: (task: T) => Promise<void>;
  readonly #budget: Budget<T>;
  readonly #waiting: T[] = [];
  #running = 0;
  /** the weight of the tasks running */
  #held = 0;
  #failure: { error: unknown } | undefined;
  #settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  constructor(limit: number, run: (task: T) => Promise<void>, budget: Budget<T> = { bytes: Infinity, weigh: () => 0 }) {
    this.#limit = Math.max(1, limit);
    this.#run = run;
    this.#budget = budget;
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
      const weight = this.#budget.weigh(this.#waiting[biggest] as T);
      if (this.#running > 0 && this.#held + weight > this.#budget.bytes) return;
      const [task] = this.#waiting.splice(biggest, 1) as [T];
      this.#running++;
      this.#held += weight;
      this.#run(task).then(
        () => this.#ended(weight),
        (error: unknown) => {
          this.#failure ??= { error };
          this.#ended(weight);
        },
      );
    }
  }

  #ended(weight: number): void {
    this.#running--;
    this.#held -= weight;
    this.#pump();
    this.#settleIfDone();
  }

  #settleIfDone(): void {
    if (!this.#settle || this.#running > 0) return;
    if (this.#failure) this.#settle.reject(this.#failure.error);
    else if (this.#waiting.length === 0) this.#settle.resolve();
  }
}
