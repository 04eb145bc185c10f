// Projection `holdings`: cost basis and PnL per account and asset, under both methods. The fold is
// src/cost-basis/ledger.ts; this module feeds it. Facts apply in the exchange's time order, not
// the log's: a fill recorded now may have happened before snapshots recorded earlier (a backfill),
// so the projection keeps which events it folded into each account, and an account that gets a
// fact older than its newest folded one is folded again from its first, its events read back from
// the log by position. A deposit whose txid matches another account's withdrawal
// carries that withdrawal's cost, so when a withdrawal's cost changes the deposit's account is
// folded again too.
import { holdingFigures, type HoldingFigures } from '../cost-basis/figures.js';
import { compareKeys, factsOf, HOLDINGS_EVENTS, inFoldOrder, place, sortedByKey, type HoldingsEvent, type PlacedFact } from '../cost-basis/facts.js';
import { Exact } from '../cost-basis/exact.js';
import { Ledger, linkKey, type WithdrawalLink } from '../cost-basis/ledger.js';
import type { Queryable } from '../events/db.js';
import { readEventsAt } from '../events/store.js';
import { toCurrent } from '../events/typed-events.js';
import { accountStream, parseAccountStream, type AccountFilter, type AccountId } from '../events/streams.js';
import { defineProjection, type Tables } from './projection.js';
import type { QueryResultRow } from 'pg';
import type { Method } from '../cost-basis/book.js';
import { byKeys, canonicalRow, insertRows, selectList, upsertRows, type ColumnSpec } from './sql-rows.js';

export type HoldingRow = AccountId & HoldingFigures;

const COLUMNS: ColumnSpec<HoldingRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['method', 'text', 'method'],
  ['asset', 'text', 'asset'],
  ['kind', 'text', 'kind'],
  ['quote', 'text', 'quote'],
  ['quantity', 'numeric', 'quantity'],
  ['cost_basis', 'numeric', 'costBasis'],
  ['entry_price', 'numeric', 'entryPrice'],
  ['current_price', 'numeric', 'currentPrice'],
  ['value', 'numeric', 'value'],
  ['pnl', 'numeric', 'pnl'],
  ['pnl_percentage', 'numeric', 'pnlPercentage'],
  ['realized_pnl', 'numeric', 'realizedPnl'],
  ['unknown_cost_quantity', 'numeric', 'unknownCostQuantity'],
  ['drift', 'numeric', 'drift'],
  ['conversion', 'boolean', 'conversion'],
  ['unvalued_fees', 'jsonb', 'unvaluedFees'],
  ['as_of', 'timestamptz', 'asOf'],
];

type FoldedRow = AccountId & { globalPosition: number };
const FOLDED_COLUMNS: ColumnSpec<FoldedRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['global_position', 'bigint', 'globalPosition'],
];

type StateRow = AccountId & { state: string };
const STATE_COLUMNS: ColumnSpec<StateRow> = [
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['state', 'text', 'state'],
];

type LinkRow = AccountId & { currency: string; txid: string; direction: 'withdrawal' | 'deposit'; quote: string | null; quantity: string | null; costAverage: string | null; costFifo: string | null };
const LINK_COLUMNS: ColumnSpec<LinkRow> = [
  ['currency', 'text', 'currency'],
  ['txid', 'text', 'txid'],
  ['direction', 'text', 'direction'],
  ['exchange', 'text', 'exchange'],
  ['account', 'text', 'account'],
  ['quote', 'text', 'quote'],
  ['quantity', 'numeric', 'quantity'],
  ['cost_average', 'numeric', 'costAverage'],
  ['cost_fifo', 'numeric', 'costFifo'],
];

type T = Tables<'holdings' | 'holdings_state' | 'holdings_events' | 'holdings_links'>;

/** Folding again after a withdrawal's cost changed: a chain of transfers longer than this is left as it stands (and logged nowhere: it needs 8 hops). */
const MAX_ROUNDS = 8;

const accountsParam = (ids: AccountId[]) => [ids.map((i) => i.exchange), ids.map((i) => i.account)];

async function loadStates(tx: Queryable, t: T, ids: AccountId[]): Promise<Map<string, Ledger>> {
  const { rows } = await tx.query<AccountId & { state: string }>(
    `SELECT s.exchange, s.account, s.state FROM ${t.holdings_state} s JOIN unnest($1::text[], $2::text[]) AS u (exchange, account) USING (exchange, account)`,
    accountsParam(ids),
  );
  return new Map(rows.map((r) => [accountStream(r), Ledger.fromJSON(JSON.parse(r.state))]));
}

/** Every fact of these accounts: their folded events, read back from the log (which never changes). */
async function loadFacts(tx: Queryable, t: T, ids: AccountId[]): Promise<Map<string, PlacedFact[]>> {
  const { rows } = await tx.query<{ global_position: string }>(
    `SELECT h.global_position FROM ${t.holdings_events} h
     JOIN unnest($1::text[], $2::text[]) AS u (exchange, account) ON h.exchange = u.exchange AND h.account = u.account`,
    accountsParam(ids),
  );
  const out = new Map<string, PlacedFact[]>();
  for (const recorded of await readEventsAt(tx, rows.map((r) => Number(r.global_position)))) {
    const e = toCurrent(recorded) as HoldingsEvent;
    const list = out.get(e.streamId) ?? [];
    factsOf(e).forEach((f, i) => list.push(place(f, e.globalPosition, i)));
    out.set(e.streamId, list);
  }
  return out;
}

/** The withdrawals (of any account) that the deposits among `facts` may have come from. */
async function loadWithdrawals(tx: Queryable, t: T, facts: PlacedFact[]): Promise<Map<string, (WithdrawalLink & AccountId)[]>> {
  const keys = new Map<string, [string, string]>();
  for (const { fact: f } of facts) if (f.kind === 'transfer' && f.type === 'deposit' && f.txid) keys.set(linkKey(f.currency, f.txid), [f.currency, f.txid]);
  const out = new Map<string, (WithdrawalLink & AccountId)[]>();
  if (keys.size === 0) return out;
  const { rows } = await tx.query<LinkRow>(
    `SELECT l.currency, l.txid, l.exchange, l.account, l.quote, l.quantity::text AS quantity, l.cost_average::text AS "costAverage", l.cost_fifo::text AS "costFifo"
     FROM ${t.holdings_links} l JOIN unnest($1::text[], $2::text[]) AS u (currency, txid) USING (currency, txid) WHERE l.direction = 'withdrawal'
     ORDER BY l.exchange, l.account`,
    [[...keys.values()].map((k) => k[0]), [...keys.values()].map((k) => k[1])],
  );
  for (const r of rows) {
    const key = linkKey(r.currency, r.txid);
    const list = out.get(key) ?? [];
    list.push({
      exchange: r.exchange,
      account: r.account,
      currency: r.currency,
      txid: r.txid,
      quote: r.quote ?? '',
      qty: Exact.parse(r.quantity ?? '0'),
      cost: { average: r.costAverage === null ? null : Exact.parse(r.costAverage), fifo: r.costFifo === null ? null : Exact.parse(r.costFifo) },
    });
    out.set(key, list);
  }
  return out;
}

function linkRows(id: AccountId, l: Ledger): LinkRow[] {
  const rows: LinkRow[] = [];
  for (const w of l.withdrawals.values()) {
    rows.push({ ...id, currency: w.currency, txid: w.txid, direction: 'withdrawal', quote: w.quote, quantity: w.qty.toString(), costAverage: w.cost.average?.toString() ?? null, costFifo: w.cost.fifo?.toString() ?? null });
  }
  for (const key of l.deposits) {
    const [currency, txid] = splitLinkKey(key);
    rows.push({ ...id, currency, txid, direction: 'deposit', quote: null, quantity: null, costAverage: null, costFifo: null });
  }
  return rows;
}

// Currency codes hold no '|'; a txid might.
const splitLinkKey = (key: string): [string, string] => [key.slice(0, key.indexOf('|')), key.slice(key.indexOf('|') + 1)];

const linkSignature = (w: WithdrawalLink) => `${w.qty}|${w.cost.average}|${w.cost.fifo}`;
const signatures = (l: Ledger | undefined) => new Map([...(l?.withdrawals ?? new Map<string, WithdrawalLink>())].map(([k, w]) => [k, linkSignature(w)]));

/** Withdrawal keys whose cost differs between before and after a fold (added, removed or changed). */
function changedWithdrawals(before: Map<string, string>, after: Ledger): string[] {
  const out: string[] = [];
  for (const [k, w] of after.withdrawals) if (before.get(k) !== linkSignature(w)) out.push(k);
  for (const k of before.keys()) if (!after.withdrawals.has(k)) out.push(k);
  return out;
}

/** Nothing is folded before the account's quote is known: its first snapshot's. */
function fromScratch(facts: PlacedFact[]): { ledger: Ledger; facts: PlacedFact[] } {
  const first = facts.find((p) => p.fact.kind === 'snapshot');
  return { ledger: new Ledger(first?.fact.kind === 'snapshot' ? first.fact.quote : null), facts: first ? facts : [] };
}

/** One round: fold each account (incrementally where its new facts all come after its state), write what it gives. */
async function foldAccounts(
  tx: Queryable,
  t: T,
  ids: AccountId[],
  fresh: Map<string, PlacedFact[]>,
  forceFull: Set<string>,
  replay: boolean,
): Promise<{ folded: Map<string, Ledger>; changed: string[] }> {
  const before = await loadStates(tx, t, ids);
  const signed = new Map([...before].map(([k, l]) => [k, signatures(l)]));
  const plans = new Map<string, { ledger: Ledger; facts: PlacedFact[] }>();
  const full: AccountId[] = [];
  for (const id of ids) {
    const key = accountStream(id);
    const state = before.get(key);
    const batch = sortedByKey(fresh.get(key) ?? []);
    const inOrder =
      state !== undefined &&
      state.quote !== null &&
      !forceFull.has(key) &&
      !batch.some((p) => p.fact.kind === 'transfer' && p.fact.update) &&
      (state.last === null || batch.length === 0 || compareKeys(batch[0]!.key, state.last) > 0);
    if (inOrder) plans.set(key, { ledger: state, facts: batch });
    // An account's first facts: every fact it has is in this batch (a state is saved with any).
    else if (state === undefined && !forceFull.has(key)) plans.set(key, fromScratch(inFoldOrder(batch)));
    else full.push(id);
  }
  if (full.length) {
    const stored = await loadFacts(tx, t, full);
    for (const id of full) plans.set(accountStream(id), fromScratch(inFoldOrder(stored.get(accountStream(id)) ?? [])));
  }
  const withdrawals = await loadWithdrawals(
    tx,
    t,
    [...plans.values()].flatMap((p) => p.facts),
  );
  const folded = new Map<string, Ledger>();
  const changed: string[] = [];
  for (const [key, { ledger, facts }] of plans) {
    const self = parseAccountStream(key);
    ledger.fold(facts, (currency, txid) => {
      // One other account's withdrawal with that txid; several (a batched on-chain transfer) say nothing certain.
      const from = withdrawals.get(linkKey(currency, txid))?.filter((w) => w.exchange !== self.exchange || w.account !== self.account) ?? [];
      return from.length === 1 ? from[0] : undefined;
    });
    folded.set(key, ledger);
    changed.push(...changedWithdrawals(signed.get(key) ?? new Map(), ledger));
  }
  await writeAccounts(tx, t, folded, replay);
  return { folded, changed };
}

/** The holdings rows of these ledgers, replacing the accounts' rows. */
async function writeHoldings(tx: Queryable, t: T, ledgers: [string, Ledger][]): Promise<void> {
  const param = accountsParam(ledgers.map(([key]) => parseAccountStream(key)));
  await tx.query(`DELETE FROM ${t.holdings} h USING unnest($1::text[], $2::text[]) AS u (exchange, account) WHERE h.exchange = u.exchange AND h.account = u.account`, param);
  await insertRows(
    tx,
    t.holdings,
    COLUMNS,
    ledgers.flatMap(([key, l]) => {
      const id = parseAccountStream(key);
      return holdingFigures(l).map((f) => ({ ...id, ...f }));
    }),
  );
}

async function writeAccounts(tx: Queryable, t: T, folded: Map<string, Ledger>, replay: boolean): Promise<void> {
  const ids = [...folded.keys()].map(parseAccountStream);
  const param = accountsParam(ids);
  await upsertRows(tx, t.holdings_state, STATE_COLUMNS, [...folded].map(([key, l]) => ({ ...parseAccountStream(key), state: JSON.stringify(l.toJSON()) })), ['exchange', 'account']);
  // A replay writes the rows once, from the states, when it finishes.
  if (!replay) await writeHoldings(tx, t, [...folded]);
  await tx.query(`DELETE FROM ${t.holdings_links} h USING unnest($1::text[], $2::text[]) AS u (exchange, account) WHERE h.exchange = u.exchange AND h.account = u.account`, param);
  await insertRows(tx, t.holdings_links, LINK_COLUMNS, [...folded].flatMap(([key, l]) => linkRows(parseAccountStream(key), l)));
}

/** Accounts (other than the withdrawing one) with a deposit of one of these withdrawals. */
async function dependents(tx: Queryable, t: T, keys: string[]): Promise<AccountId[]> {
  if (keys.length === 0) return [];
  const split = keys.map(splitLinkKey);
  const { rows } = await tx.query<AccountId>(
    `SELECT DISTINCT d.exchange, d.account FROM ${t.holdings_links} d
     JOIN unnest($1::text[], $2::text[]) AS u (currency, txid) USING (currency, txid)
     WHERE d.direction = 'deposit'
       AND NOT EXISTS (SELECT 1 FROM ${t.holdings_links} w WHERE w.direction = 'withdrawal' AND w.currency = d.currency AND w.txid = d.txid AND w.exchange = d.exchange AND w.account = d.account)`,
    [split.map((s) => s[0]), split.map((s) => s[1])],
  );
  return rows;
}

async function applyHoldings(tx: Queryable, events: HoldingsEvent[], t: T, replay: boolean): Promise<void> {
  const fresh = new Map<string, PlacedFact[]>();
  const folded: FoldedRow[] = [];
  const ids = new Map<string, AccountId>();
  for (const e of events) {
    const facts = factsOf(e);
    if (facts.length === 0) continue;
    const id = parseAccountStream(e.streamId);
    ids.set(e.streamId, id);
    folded.push({ ...id, globalPosition: e.globalPosition });
    const list = fresh.get(e.streamId) ?? [];
    facts.forEach((f, i) => list.push(place(f, e.globalPosition, i)));
    fresh.set(e.streamId, list);
  }
  if (folded.length === 0) return;
  await insertRows(tx, t.holdings_events, FOLDED_COLUMNS, folded);
  let round = await foldAccounts(tx, t, [...ids.values()], fresh, new Set(), replay);
  for (let i = 1; i < MAX_ROUNDS && round.changed.length; i += 1) {
    const next = await dependents(tx, t, round.changed);
    if (next.length === 0) break;
    round = await foldAccounts(tx, t, next, new Map(), new Set(next.map(accountStream)), replay);
  }
}

const order = byKeys<HoldingRow>(
  (r) => r.exchange,
  (r) => r.account,
  (r) => r.method,
  (r) => r.kind,
  (r) => r.asset,
);

/** The holdings rows of the filter's accounts, of one method or both. */
export async function readHoldings(db: Queryable, table: string, filter: AccountFilter, method?: Method): Promise<HoldingRow[]> {
  const { rows } = await db.query<HoldingRow & QueryResultRow>(
    `SELECT ${selectList(COLUMNS)} FROM ${table}
     WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR account = $2) AND ($3::text IS NULL OR method = $3)`,
    [filter.exchange ?? null, filter.account ?? null, method ?? null],
  );
  return rows.map((r) => canonicalRow<HoldingRow>(r, COLUMNS)).sort(order);
}

export const holdings = defineProjection({
  name: 'holdings',
  tables: ['holdings', 'holdings_state', 'holdings_events', 'holdings_links'],
  consumes: HOLDINGS_EVENTS,
  replay: { kind: 'every' },
  // A deposit's cost may be another account's withdrawal: --at for one account replays them all.
  crossAccount: true,
  apply: (tx, events, t, opts) => applyHoldings(tx, events, t, opts.replay === true),
  // Every account's rows from its state, in pages (a replay wrote states only).
  async finish(tx, t) {
    let after = '';
    for (;;) {
      const { rows } = await tx.query<{ key: string; state: string }>(
        `SELECT exchange || ':' || account AS key, state FROM ${t.holdings_state} WHERE exchange || ':' || account > $1 ORDER BY 1 LIMIT 500`,
        [after],
      );
      if (rows.length === 0) return;
      await writeHoldings(tx, t, rows.map((r) => [r.key, Ledger.fromJSON(JSON.parse(r.state))]));
      after = rows[rows.length - 1]!.key;
    }
  },
  read: (db, t, filter) => readHoldings(db, t.holdings, filter),
});
