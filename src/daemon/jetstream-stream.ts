// The relay's JetStream stream: created at start, or brought back to the subjects and duplicate
// window the relay depends on. Settings an operator may have tuned (limits, replicas, placement)
// are left alone on an existing stream.
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { Logger } from 'pino';

/** The relay republishes a failed pass within seconds; the window catches those repeats. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
const NANOS_PER_MS = 1_000_000;

export interface StreamSpec {
  name: string;
  subjects: string[];
}

export type EnsureResult = { action: 'created' | 'updated' | 'unchanged'; info: StreamInfo };

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((s) => b.includes(s));

export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, logger?: Logger): Promise<EnsureResult> {
  const window = DUPLICATE_WINDOW_MS * NANOS_PER_MS;
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(spec.name);
  } catch (err) {
    // StreamNotFoundError itself is not exported from the package root; its code is.
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  if (!existing) {
    const info = await jsm.streams.add({
      name: spec.name,
      subjects: spec.subjects,
      // Subscribers replay from the beginning, so keep everything and survive a server restart.
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      num_replicas: 1,
      duplicate_window: window,
      // Downstream consumers may fetch single events by subject (last state of an account).
      allow_direct: true,
    });
    logger?.info({ stream: spec.name, subjects: spec.subjects }, 'JetStream stream created');
    return { action: 'created', info };
  }
  const cfg = existing.config;
  if (cfg.storage !== StorageType.File) {
    // Storage cannot be changed by an update; say so rather than refuse to run.
    logger?.warn({ stream: spec.name, storage: cfg.storage }, 'JetStream stream is not file-backed: a server restart loses relayed events');
  }
  // A shorter window would let a retried publish after a slow outage store a second copy.
  const needs = !sameSet(cfg.subjects ?? [], spec.subjects) || (cfg.duplicate_window ?? 0) < window;
  if (!needs) return { action: 'unchanged', info: existing };
  const info = await jsm.streams.update(spec.name, {
    subjects: spec.subjects,
    duplicate_window: Math.max(cfg.duplicate_window ?? 0, window),
  });
  logger?.info({ stream: spec.name, subjects: spec.subjects, previousSubjects: cfg.subjects }, 'JetStream stream updated');
  return { action: 'updated', info };
}
