// `exchange-sync events`: prints the log in the order subscribers see it, optionally following
// new commits. Read-only: it keeps its place in memory and writes no checkpoint.
import { loadConfig } from '../config.js';
import { createPool } from '../events/db.js';
import { toEnvelope } from '../events/envelope.js';
import { follow } from '../events/follow.js';
import { EventStore, type RecordedEvent } from '../events/store.js';
import { Notifier } from '../events/subscription.js';
import { tryCurrent } from '../events/typed-events.js';
import { intFlag, type Command } from './command.js';

const SUMMARY_MAX = 120;

/** One line saying what the event is about; the full data is in --json. */
export function summarize(e: RecordedEvent): string {
  // Only the versions written here are known by shape; anything else shows its raw data.
  const text = (() => {
    // Shown as this release reads it (upcast to the current version); unknown events raw.
    const c = tryCurrent(e);
    switch (c?.type) {
      case 'snapshot_recorded': {
        const s = c.data.snapshot;
        return `${s.balances.length} balances, ${s.positions.length} positions, fetched ${s.fetchedAt}`;
      }
      case 'snapshot_unchanged':
        return `unchanged, fetched ${c.data.fetchedAt}`;
      case 'sync_completed': {
        const d = c.data;
        return `ok (${d.trigger}) ${d.changed ? 'changed' : 'unchanged'}, ${d.balances} balances, ${d.positions} positions, ${d.fetchMs} ms, attempts ${d.attempts}`;
      }
      case 'sync_failed': {
        const d = c.data;
        return `failed (${d.trigger}) ${d.errorClass}${d.retryable ? ' retryable' : ''}, attempt ${d.attempt}: ${d.message}`;
      }
      default:
        return JSON.stringify(e.data);
    }
  })().replace(/\s+/g, ' ');
  return text.length > SUMMARY_MAX ? `${text.slice(0, SUMMARY_MAX - 3)}...` : text;
}

const HEADER = `${'POSITION'.padStart(8)}  ${'RECORDED_AT'.padEnd(24)}  ${'STREAM'.padEnd(20)}  ${'#'.padStart(5)}  ${'TYPE'.padEnd(18)}  SUMMARY`;

function line(e: RecordedEvent): string {
  return `${String(e.globalPosition).padStart(8)}  ${e.recordedAt.toISOString().padEnd(24)}  ${e.streamId.padEnd(20)}  ${String(e.streamPosition).padStart(5)}  ${e.type.padEnd(18)}  ${summarize(e)}`;
}

/** stdout that waits when the reader is slow and notices when it has gone away (`| head`). */
function stdoutSink() {
  let gone = false;
  const onError = () => {
    gone = true;
  };
  process.stdout.on('error', onError);
  return {
    get gone() {
      return gone;
    },
    async write(text: string): Promise<void> {
      if (gone || process.stdout.write(text)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          resolve();
        };
        process.stdout.once('drain', done);
        process.stdout.once('error', done);
      });
    },
    close() {
      process.stdout.off('error', onError);
    },
  };
}

export const events: Command = {
  name: 'events',
  help: `Usage: exchange-sync events [--from POSITION] [--limit N] [--follow] [--json]

Prints the event log in the order every subscriber (projections, NATS relay) reads it: by
committing transaction, then global position. That order is safe: no event can commit later
behind an event already printed, so global positions may appear slightly out of order when
appends overlapped. An append still in progress holds back the events after it until it ends.

Options:
  --from POSITION   start at this global position (inclusive); default: the beginning
  --limit N         stop after N events
  --follow          keep printing events as they commit, until Ctrl-C / SIGTERM (exit 0)
  --json            one JSON envelope per line (JSON Lines), the same envelope the NATS relay
                    publishes: {id, type, version, stream, streamPosition, globalPosition,
                    recordedAt, data, metadata}

Table mode prints one line per event: global position, recorded time, stream, stream
position, type and a short summary of the data.

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME. See docs/queries.md.`,
  options: {
    from: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values) {
    const from = intFlag(values, 'from', 0);
    const limit = intFlag(values, 'limit', 1);
    const json = values.json === true;
    const following = values.follow === true;
    const config = loadConfig();
    const pool = createPool(config.database.connectionString, { max: 2, applicationName: 'exchange-sync events' });
    const notifier = following ? new Notifier(config.database.connectionString) : undefined;
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    if (following) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const out = stdoutSink();
    try {
      let printed = 0;
      let header = !json;
      if (header && following) {
        await out.write(`${HEADER}\n`);
        header = false;
      }
      const batches = follow(new EventStore(pool), {
        fromGlobalPosition: from,
        untilEnd: !following,
        notifier,
        signal: stop.signal,
        batchSize: limit === undefined ? 500 : Math.min(500, limit),
      });
      for await (const batch of batches) {
        const take = limit === undefined ? batch : batch.slice(0, limit - printed);
        if (header) {
          await out.write(`${HEADER}\n`);
          header = false;
        }
        await out.write(take.map((e) => `${json ? JSON.stringify(toEnvelope(e)) : line(e)}\n`).join(''));
        printed += take.length;
        if (out.gone || printed === limit) break;
      }
      if (!json && printed === 0 && !following) await out.write('no events\n');
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      out.close();
      await notifier?.stop();
      await pool.end();
    }
  },
};
