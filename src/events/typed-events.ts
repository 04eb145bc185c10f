// Recorded events as the catalog types them: a union discriminated on `type` (and `version`), so
// `data` narrows with no cast. The store returns rows as stored (any version, any type, also one
// a newer release wrote); readers turn them into current-version events here, through the
// catalog's upcasters, and only then look inside.
import { catalog, upcastData, UnknownEventError, type CurrentVersion, type EventData, type EventType, type EventVersion } from './catalog.js';
import type { RecordedEvent } from './store.js';

export type EventHeader = Omit<RecordedEvent, 'type' | 'version' | 'data'>;

/** Every (type, version) the log may hold. */
export type StoredEvent = {
  [T in EventType]: { [V in EventVersion<T>]: EventHeader & { type: T; version: V; data: EventData<T, V> } }[EventVersion<T>];
}[EventType];

/** An event as readers see it: its type's current version, whatever version was stored. */
export type CurrentEvent<T extends EventType = EventType> = {
  [K in T]: EventHeader & { type: K; version: CurrentVersion<K>; data: EventData<K> };
}[T];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalog, type);
}

/** The event with its data upcast to the current version; UnknownEventError for a type or version this release does not know. */
export function toCurrent(e: RecordedEvent): CurrentEvent {
  if (!isEventType(e.type)) throw new UnknownEventError(`unknown event type ${e.type} (event ${e.id})`);
  if (e.version === catalog[e.type].current) return e as CurrentEvent;
  const { version, data } = upcastData(catalog, e.type, e.version, e.data);
  return { ...e, version, data } as CurrentEvent;
}

/** The current-version event, or undefined for one this release cannot read (for display). */
export function tryCurrent(e: RecordedEvent): CurrentEvent | undefined {
  try {
    return toCurrent(e);
  } catch (err) {
    if (err instanceof UnknownEventError) return undefined;
    throw err;
  }
}
