// A catalog with one neutral event type, so the log's own tests do not depend on product events.
import { z } from 'zod';
import type { Catalog } from '../../src/events/catalog.js';

export const testCatalog = {
  test_event: { 1: z.object({ writer: z.number().int(), n: z.number().int() }) },
} satisfies Catalog;

export function testEvents(writer: number, from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({ type: 'test_event', data: { writer, n: from + i } }));
}
