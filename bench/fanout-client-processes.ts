/**
 * The parent's handle on the fan-out subscriber processes (bench/fanout-clients.ts): opens the
 * subscribers spread over them, waits until each has received a first message, and gathers a
 * round's receipts from all of them into one report.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ExecutionResult } from 'graphql-ws';
import type { ClientsPlan, RoundReport, SubscriberGroup } from './fanout-clients.js';
import { projectEntry } from './lib/entry.js';

const CLIENTS = projectEntry('bench/fanout-clients');

type Reply = { live?: true; expecting?: string; round?: RoundReport; error?: string };

/** A round's receipts over every process; `missing` deliveries never arrived by the deadline. */
export type Receipts = {
  receivedAt: number[][];
  samples: Array<Array<ExecutionResult | null>>;
  outOfOrder: number;
  duplicates: number;
  missing: number;
};

function replyFrom(child: ChildProcess, isWanted: (r: Reply) => boolean, timeoutMs: number, what: string) {
  return new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`fan-out clients: ${what} not within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (r: Reply) => {
      if (r.error) finish(new Error(`fan-out clients: ${r.error}`));
      else if (isWanted(r)) finish(undefined, r);
    };
    const onExit = () => finish(new Error(`fan-out clients: a process exited while waiting for ${what}`));
    const finish = (err?: Error, r?: Reply) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(r!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export class SubscriberProcesses {
  readonly #children: ChildProcess[];
  #groups = 0;
  #subscribers = 0;
  readonly #rounds = new Map<string, { count: number; reports: Promise<RoundReport[]> }>();

  constructor(processes: number) {
    this.#children = Array.from({ length: processes }, () =>
      fork(CLIENTS.file, [], {
        execArgv: CLIENTS.execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }

  /**
   * Opens one subscriber per entry of `groupOfEach` (its group's index), dealt to the processes
   * in contiguous shares, and resolves once every subscriber has received a first message;
   * `nudge` runs meanwhile (graphql-ws subscribers hear nothing until an event comes).
   */
  async open(
    mode: ClientsPlan['mode'],
    url: string,
    groups: SubscriberGroup[],
    groupOfEach: number[],
    nudge: () => Promise<void>,
  ): Promise<void> {
    this.#groups = groups.length;
    this.#subscribers = groupOfEach.length;
    const share = Math.ceil(groupOfEach.length / this.#children.length);
    const live = Promise.all(
      this.#children.map((child, i) => {
        const plan: ClientsPlan = { mode, url, groups, groupOfEach: groupOfEach.slice(i * share, (i + 1) * share) };
        child.send({ open: plan });
        return replyFrom(child, (r) => r.live === true, 180_000, 'every subscriber live');
      }),
    );
    let isLive = false;
    const nudging = (async () => {
      while (!isLive) {
        await nudge();
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    try {
      await live;
    } finally {
      isLive = true;
      await nudging;
    }
  }

  /**
   * Every process counts events named `<tag>-<k>`, k < count, from now on; resolves once all
   * listen. The round's receipts are awaited with `receipts`: complete, or at `deadlineMs` from
   * now as they stand.
   */
  async expect(tag: string, count: number, deadlineMs: number): Promise<void> {
    const isRound = (r: Reply) => r.round?.tag === tag;
    const rounds = this.#children.map(async (child) => {
      try {
        return (await replyFrom(child, isRound, deadlineMs, `round ${tag}`)).round!;
      } catch {
        const partial = replyFrom(child, isRound, 10_000, `the partial round ${tag}`);
        child.send({ report: tag });
        return (await partial).round!;
      }
    });
    // Nothing is lost if a round fails before anyone awaits it: `receipts` rethrows.
    for (const r of rounds) r.catch(() => undefined);
    this.#rounds.set(tag, { count, reports: Promise.all(rounds) });
    await Promise.all(
      this.#children.map((child) => {
        const acknowledged = replyFrom(child, (r) => r.expecting === tag, 10_000, `expecting ${tag}`);
        child.send({ expect: { tag, count } });
        return acknowledged;
      }),
    );
  }

  /** Every process's receipts of the round, merged. */
  async receipts(tag: string): Promise<Receipts> {
    const round = this.#rounds.get(tag);
    if (!round) throw new Error(`fan-out clients: round ${tag} was never expected`);
    this.#rounds.delete(tag);
    const { count } = round;
    const reports = await round.reports;
    const receivedAt = Array.from({ length: count }, (_, k) => reports.flatMap((r) => r.receivedAt[k]!));
    const samples = Array.from({ length: this.#groups }, (_, g) =>
      Array.from({ length: count }, (_, k) => reports.map((r) => r.samples[g]?.[k]).find((s) => s) ?? null),
    );
    const delivered = receivedAt.reduce((sum, times) => sum + times.length, 0);
    return {
      receivedAt,
      samples,
      outOfOrder: reports.reduce((sum, r) => sum + r.outOfOrder, 0),
      duplicates: reports.reduce((sum, r) => sum + r.duplicates, 0),
      missing: count * this.#subscribers - delivered,
    };
  }

  /** Closes every subscriber and waits for the processes to end. */
  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        if (child.connected) child.send({ close: true });
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
