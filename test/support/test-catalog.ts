// A catalog with one neutral event type, so the log's own tests do not depend on product events.
import { z } from 'zod';
import { defineEvent, type Catalog } from '../../src/events/catalog.js';

export const testCatalog = {
  test_event: defineEvent({ versions: { 1: z.object({ writer: z.number().int(), n: z.number().int() }) }, current: 1, upcast: {} }),
} satisfies Catalog;

export function testEvents(writer: number, from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({ type: 'test_event', data: { writer, n: from + i } }));
}
