// Requests seen per (exchange, path, API key), so a test can assert how often a client called,
// e.g. "markets were loaded once for fifty accounts". Public calls carry no key and count under "".
import type { EmulatorExchange, RequestCountFilter } from './types.js';

export interface CountRow {
  exchange: EmulatorExchange;
  path: string;
  apiKey: string;
  count: number;
}

export class RequestCounter {
  private rows = new Map<string, CountRow>();

  record(exchange: EmulatorExchange, path: string, apiKey: string | undefined): void {
    const k = `${exchange} ${path} ${apiKey ?? ''}`;
    const row = this.rows.get(k);
    if (row) row.count += 1;
    else this.rows.set(k, { exchange, path, apiKey: apiKey ?? '', count: 1 });
  }

  list(filter: RequestCountFilter = {}): CountRow[] {
    return [...this.rows.values()]
      .filter(
        (r) =>
          (filter.exchange === undefined || r.exchange === filter.exchange) &&
          (filter.path === undefined || r.path === filter.path) &&
          (filter.apiKey === undefined || r.apiKey === filter.apiKey),
      )
      .map((r) => ({ ...r }));
  }

  count(filter: RequestCountFilter = {}): number {
    return this.list(filter).reduce((n, r) => n + r.count, 0);
  }

  reset(): void {
    this.rows.clear();
  }
}
