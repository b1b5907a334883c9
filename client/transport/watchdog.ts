import { LarderError } from '../../shared/errors.ts';

/**
 * Fails a save or restore that stops making progress, whatever the cause (a server that
 * answers nothing, a worker stuck on a file system), instead of letting it hang the
 * build. Anything that moves the work forward calls tick().
 */
export class Watchdog {
  readonly #timeoutMs: number;
  readonly #timer: NodeJS.Timeout;
  #last = Date.now();
  readonly stalled: Promise<never>;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    let fire: (err: LarderError) => void = () => {};
    this.stalled = new Promise<never>((_, reject) => (fire = reject));
    this.stalled.catch(() => {}); // observed by whoever races it
    this.#timer = setInterval(() => {
      if (Date.now() - this.#last >= this.#timeoutMs) {
        clearInterval(this.#timer);
        fire(new LarderError('LARDER_TIMEOUT', `no progress for ${this.#timeoutMs / 1000} s (--stall-timeout); gave up`));
      }
    }, Math.max(50, Math.min(1000, timeoutMs / 4)));
    // Referenced on purpose: if the work ever hangs with nothing else pending, this still
    // fires and reports it, rather than the process ending without a word. stop() ends it.
  }

  tick = (): void => {
    this.#last = Date.now();
  };

  stop(): void {
    clearInterval(this.#timer);
  }
}
