// The pool of frame workers: a bounded number of workers (one per core, at
// most four), each given up to three frames at a time so they download while
// the other decodes; frames wait in one queue, the most urgent first, and
// can be re-ordered while they wait (nearest the slice shown first).

import type { DecodeSpec, FrameReply, FrameRequest } from './protocol';

/** A frame as a worker returned it. */
export type FrameResult = Extract<FrameReply, { ok: true }>;

/** A frame the server or the decoder refused; `status` is the HTTP status when there was one. */
export class FrameError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** Counters for tests and benchmarks: what the workers did. */
export interface PoolStats {
  workers: number;
  /** Frames fetched and decoded in a worker. */
  decoded: number;
  /** Frames fetched in a worker and decoded elsewhere (colour images: Cornerstone's own path). */
  fetchedOnly: number;
  failed: number;
  queued: number;
  /** Sums over the frames, in milliseconds. */
  fetchMs: number;
  decodeMs: number;
}

interface Task {
  id: number;
  key: string;
  /** Needed on screen now: before every frame that is not. */
  urgent: boolean;
  priority: number;
  request: Omit<FrameRequest, 'id' | 'yy'>;
  resolve: (r: FrameResult) => void;
  reject: (e: Error) => void;
}

/** Frames in flight per worker: some downloading while one decodes (two workers: the six connections a browser opens to a server). */
const PER_WORKER = 3;
/** Workers at most, whatever the machine says (each holds its codecs' memory). */
export const MAX_WORKERS = 4;

export class FramePool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly queue: Task[] = [];
  private readonly running = new Map<number, { task: Task; worker: number }>();
  private nextId = 1;
  readonly stats: PoolStats;

  constructor(size: number, create: () => Worker) {
    const n = Math.max(1, Math.min(MAX_WORKERS, Math.floor(size) || 1));
    this.stats = { workers: n, decoded: 0, fetchedOnly: 0, failed: 0, queued: 0, fetchMs: 0, decodeMs: 0 };
    for (let i = 0; i < n; i++) {
      const worker = create();
      worker.addEventListener('message', (e: MessageEvent) => this.done(i, e.data as FrameReply));
      worker.addEventListener('error', (e) => this.crashed(i, e.message));
      this.workers.push(worker);
      this.busy.push(0);
    }
  }

  /**
   * Fetch `url` in a worker and decode it as `decode` says (or not, without
   * it). `key` names the frame for `reprioritise`; urgent frames go first,
   * then lower `priority`, then the oldest.
   */
  run(key: string, url: string, headers: Record<string, string>, decode: DecodeSpec | undefined, urgent: boolean, priority: number): Promise<FrameResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, key, urgent, priority, request: { url, headers, decode }, resolve, reject });
      this.stats.queued = this.queue.length;
      this.pump();
    });
  }

  /** Give waiting frames new priorities (`undefined` keeps a frame's own); urgent frames stay urgent. */
  reprioritise(priority: (key: string) => number | undefined): void {
    for (const task of this.queue) {
      const p = priority(task.key);
      if (p !== undefined) task.priority = p;
    }
  }

  /**
   * Take back the waiting (not yet started, not urgent) frames `unwanted`
   * names: they fail with a `FrameError`, so whoever asked may ask again.
   */
  drop(unwanted: (key: string) => boolean): number {
    const error = new FrameError('frame no longer wanted');
    const keep: Task[] = [];
    const dropped: Task[] = [];
    for (const task of this.queue) (!task.urgent && unwanted(task.key) ? dropped : keep).push(task);
    this.queue.splice(0, this.queue.length, ...keep);
    this.stats.queued = this.queue.length;
    for (const task of dropped) task.reject(error);
    return dropped.length;
  }

  /** Stop the workers; frames still waiting or running fail. */
  terminate(): void {
    for (const w of this.workers) w.terminate();
    const error = new FrameError('frame pool stopped');
    for (const task of this.queue.splice(0)) task.reject(error);
    for (const { task } of this.running.values()) task.reject(error);
    this.running.clear();
  }

  private pump(): void {
    while (this.queue.length) {
      const worker = this.leastBusy();
      if (worker < 0) return;
      const task = this.take();
      this.busy[worker]++;
      this.running.set(task.id, { task, worker });
      const message: FrameRequest = { yy: 'frame', id: task.id, ...task.request };
      this.workers[worker].postMessage(message);
    }
  }

  /** The most urgent waiting frame: urgent ones, then lowest priority, then the oldest. */
  private take(): Task {
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      if (before(this.queue[i], this.queue[best])) best = i;
    }
    const [task] = this.queue.splice(best, 1);
    this.stats.queued = this.queue.length;
    return task;
  }

  private leastBusy(): number {
    let best = -1;
    for (let i = 0; i < this.workers.length; i++) {
      if (this.busy[i] < PER_WORKER && (best < 0 || this.busy[i] < this.busy[best])) best = i;
    }
    return best;
  }

  private done(worker: number, reply: FrameReply): void {
    if (reply?.yy !== 'frame') return;
    const entry = this.running.get(reply.id);
    if (!entry) return;
    this.running.delete(reply.id);
    this.busy[worker]--;
    if (reply.ok) {
      if (reply.imageFrame) this.stats.decoded++;
      else this.stats.fetchedOnly++;
      this.stats.fetchMs += reply.fetchMs;
      this.stats.decodeMs += reply.decodeMs;
      entry.task.resolve(reply);
    } else {
      this.stats.failed++;
      entry.task.reject(new FrameError(reply.message, reply.status));
    }
    this.pump();
  }

  /** An error escaped a worker (its module failed to load, a codec aborted): its frames fail. */
  private crashed(worker: number, message: string): void {
    for (const [id, entry] of this.running) {
      if (entry.worker !== worker) continue;
      this.running.delete(id);
      this.stats.failed++;
      entry.task.reject(new FrameError(`frame worker failed: ${message}`));
    }
    this.busy[worker] = 0;
    this.pump();
  }
}

function before(a: Task, b: Task): boolean {
  if (a.urgent !== b.urgent) return a.urgent;
  return a.priority < b.priority || (a.priority === b.priority && a.id < b.id);
}
