// What a projection is: one object that says which events it consumes, what a replay of them must
// read, which tables it owns, how it applies a batch of events to them and how it reads them back.
// The live projector, rebuild, `--at` answers and the tests all go through the same object, so a
// read model cannot be right live and wrong after a rebuild.
import type { EventType } from '../events/catalog.js';
import type { Queryable } from '../events/db.js';
import type { RecordedEvent, Selector } from '../events/store.js';
import type { AccountFilter } from '../events/streams.js';
import { toCurrent, type CurrentEvent } from '../events/typed-events.js';

/**
 * What a replay must read. `every`: every event consumed (a running total needs them all).
 * `since-reset`: per stream, only the events from its newest `resetBy` event on, because that
 * event replaces whatever the projection held for the stream (a full snapshot). The live
 * projector, rebuild and `--at` all read this way; `apply` must give the same tables either way.
 */
export type Replay = { kind: 'every' } | { kind: 'since-reset'; resetBy: EventType };

/** Table base name -> the qualified name to use: the live table, a rebuild's shadow, or an --at temporary copy. */
export type Tables<N extends string = string> = Record<N, string>;

export interface ProjectionDefinition<T extends EventType, N extends string, R> {
  /** Also names its checkpoint (`projection:<name>`) and `rebuild --projection`. */
  name: string;
  /** Tables it owns, by name in schema exchange_sync; a migration creates them. */
  tables: readonly N[];
  consumes: readonly T[];
  replay: Replay;
  /** Its rows for one account may depend on other accounts' events: an --at answer for some accounts replays every account's. */
  crossAccount?: boolean;
  /**
   * Applies a batch, in log order, inside the caller's transaction (which also moves the
   * checkpoint). The same batch may be split differently live and in a rebuild: the result must
   * not depend on where the batches break.
   */
  apply(tx: Queryable, events: CurrentEvent<T>[], tables: Tables<N>, opts: ApplyOptions): Promise<void>;
  /**
   * After a replay (rebuild, --at) applied with `replay: true`, before its tables are read or
   * swapped in: whatever apply left for the end. For a projection whose rows derive from state it
   * keeps anyway (holdings): written once, not after every batch.
   */
  finish?(tx: Queryable, tables: Tables<N>): Promise<void>;
  /** Its rows, in a stable order; the same function reads live, shadow and --at tables. */
  read(db: Queryable, tables: Tables<N>, filter: AccountFilter): Promise<R[]>;
}

export interface ApplyOptions {
  /** Part of a replay that ends with finish(): rows only it reads may wait for that. */
  replay?: boolean;
}

export interface Projection<R = unknown> {
  readonly name: string;
  readonly checkpoint: string;
  readonly tables: readonly string[];
  readonly replay: Replay;
  readonly crossAccount: boolean;
  /** The store read that gives this projection what it consumes, as its replay says. */
  readonly selector: Selector;
  /** Applies the events of `events` it consumes, upcast to their current versions. */
  apply(tx: Queryable, events: readonly RecordedEvent[], tables: Tables, opts?: ApplyOptions): Promise<void>;
  finish(tx: Queryable, tables: Tables): Promise<void>;
  read(db: Queryable, tables: Tables, filter?: AccountFilter): Promise<R[]>;
}

function checkpointName(projection: string): string {
  return `projection:${projection}`;
}

export function defineProjection<T extends EventType, N extends string, R>(def: ProjectionDefinition<T, N, R>): Projection<R> {
  if (!/^[a-z][a-z0-9_]*$/.test(def.name)) throw new Error(`projection name "${def.name}" must be snake_case`);
  if (def.replay.kind === 'since-reset' && !(def.consumes as readonly string[]).includes(def.replay.resetBy)) {
    throw new Error(`projection ${def.name}: its reset event ${def.replay.resetBy} must be one it consumes`);
  }
  const consumed = new Set<string>(def.consumes);
  return {
    name: def.name,
    checkpoint: checkpointName(def.name),
    tables: def.tables,
    replay: def.replay,
    crossAccount: def.crossAccount ?? false,
    selector: { types: def.consumes, ...(def.replay.kind === 'since-reset' ? { resetBy: def.replay.resetBy } : {}) },
    async apply(tx, events, tables, opts = {}) {
      const mine = events.filter((e) => consumed.has(e.type)).map((e) => toCurrent(e) as CurrentEvent<T>);
      if (mine.length) await def.apply(tx, mine, tables as Tables<N>, opts);
    },
    finish: async (tx, tables) => {
      await def.finish?.(tx, tables as Tables<N>);
    },
    read: (db, tables, filter = {}) => def.read(db, tables as Tables<N>, filter),
  };
}
