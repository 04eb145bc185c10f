// Which windows of a history channel to fetch next, and what a fetched window changes, from the
// channel's state in the log (ChannelState: every item with its time in [from, to) is recorded).
// Pure: the fetching is the exchange's, the recording the sync's.
import type { ChannelState, TransferStatus } from '../../events/catalog.js';

/** Fills published this long after their time are still caught: every fetch asks again from `to` minus this. */
export const OVERLAP_MS = 10 * 60 * 1000;
/** Deposits are listed once confirmed, hours after their time: their channels ask three days again. */
export const TRANSFER_OVERLAP_MS = 3 * 24 * 60 * 60 * 1000;

/** A transfer pending longer than this is no longer asked for (and stays recorded as pending). */
export const PENDING_MS = 30 * 24 * 60 * 60 * 1000;

export interface Window {
  /** Inclusive start, ms. */
  start: number;
  /** Exclusive end, ms. */
  end: number;
  /** Forward (new items up to now) or a backfill step (older items towards `since`). */
  kind: 'forward' | 'backfill';
}

export interface ChannelPlan {
  windows: Window[];
}

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

/** A channel seen for the first time: nothing covered yet, backfill starts at now. */
export function freshState(now: number): ChannelState {
  return { from: iso(now), to: iso(now), recent: {} };
}

/**
 * The windows to fetch, oldest-first forward then newest-first backfill, each at most `windowMs`
 * long: forward from `to` minus the overlap up to now, then backwards from `from` down to `since`.
 */
export function windowsFor(state: ChannelState, now: number, since: number, windowMs: number, overlapMs = OVERLAP_MS): Window[] {
  const out: Window[] = [];
  // Transfers still pending are asked again until they settle (for at most PENDING_MS).
  const pendingSince = Math.min(...Object.values(state.pending ?? {}).map((p) => Math.max(ms(p.at), now - PENDING_MS)));
  for (let start = Math.max(Math.min(ms(state.to) - overlapMs, pendingSince), ms(state.from)); start < now; start += windowMs) {
    out.push({ start, end: Math.min(start + windowMs, now), kind: 'forward' });
  }
  for (let end = ms(state.from); end > since; end -= windowMs) {
    out.push({ start: Math.max(end - windowMs, since), end, kind: 'backfill' });
  }
  return out;
}

export interface Timed {
  id: string;
  timestamp: string;
}

/**
 * The fetched items of a window that are not in the log yet. Recorded means: in [from, to) and not
 * in the overlap before `to`, or in `recent`. A transfer whose status changed is new as a change.
 */
export function unseen<T extends Timed>(state: ChannelState, items: T[], statusOf?: (t: T) => TransferStatus, overlapMs = OVERLAP_MS): T[] {
  const from = ms(state.from);
  const to = ms(state.to);
  const out = new Map<string, T>();
  for (const item of items) {
    const t = ms(item.timestamp);
    const pendingStatus = state.pending?.[item.id]?.status;
    if (pendingStatus !== undefined && statusOf) {
      if (statusOf(item) !== pendingStatus) out.set(item.id, item);
      continue;
    }
    const covered = t >= from && t < to && (t < to - overlapMs || Object.hasOwn(state.recent, item.id));
    if (!covered) out.set(item.id, item); // an id repeated within one reply counts once
  }
  return [...out.values()];
}

/**
 * The state after a window was fetched whole and its new items recorded. `items` is every item the
 * window returned (recorded before or now).
 */
export function advance<T extends Timed>(state: ChannelState, w: Window, items: T[], pendingOf?: (t: T) => TransferStatus | undefined, overlapMs = OVERLAP_MS): ChannelState {
  const from = w.kind === 'backfill' ? Math.min(ms(state.from), w.start) : ms(state.from);
  const to = w.kind === 'forward' ? Math.max(ms(state.to), w.end) : ms(state.to);
  // Only the ids a later forward fetch asks again (within the overlap before `to`) are kept.
  const recent: Record<string, string> = {};
  const all = Object.entries(state.recent).concat(items.map((i) => [i.id, i.timestamp] as [string, string]));
  for (const [id, at] of all) if (ms(at) >= to - overlapMs && ms(at) < to) recent[id] = at;
  const next: ChannelState = { from: iso(from), to: iso(to), recent: Object.fromEntries(Object.entries(recent).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  if (pendingOf) {
    const pending: NonNullable<ChannelState['pending']> = { ...state.pending };
    for (const item of items) {
      const status = pendingOf(item);
      if (status === undefined) delete pending[item.id];
      else pending[item.id] = { status, at: item.timestamp };
    }
    next.pending = pending;
  }
  return next;
}

/** How far back the channel is covered, and whether that reaches `since`. */
export function coverageOf(state: ChannelState, since: number): { from: string; to: string; complete: boolean } {
  return { from: state.from, to: state.to, complete: ms(state.from) <= since };
}
