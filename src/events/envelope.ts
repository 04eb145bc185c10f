// The public form of a recorded event: what `exchange-sync events --json` prints and the
// JetStream relay publishes. Part of the external contract (DESIGN.md): add fields, never rename.
import { z } from 'zod';
import { Iso } from './catalog.js';
import type { RecordedEvent } from './store.js';

export const EnvelopeSchema = z.object({
  /** Event id (uuid): also the JetStream Nats-Msg-Id, so a republish is recognized. */
  id: z.uuid(),
  type: z.string(),
  version: z.number().int().positive(),
  /** '<exchange>:<account>' */
  stream: z.string(),
  streamPosition: z.number().int().positive(),
  globalPosition: z.number().int().positive(),
  recordedAt: Iso,
  /** Matches the catalog schema for (type, version). */
  data: z.unknown(),
  metadata: z.record(z.string(), z.unknown()),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

// The transaction id stays internal: it is a read-order detail of this database, meaningless
// to a consumer and different after a dump and restore.
export function toEnvelope(event: RecordedEvent): Envelope {
  return {
    id: event.id,
    type: event.type,
    version: event.version,
    stream: event.streamId,
    streamPosition: event.streamPosition,
    globalPosition: event.globalPosition,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata,
  };
}
