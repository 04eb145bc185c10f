// Injected misbehaviour. A fault matches by exchange, optionally by API key and path, and may be
// limited to N requests. Latency and clock skew add up and let the request go on; the other
// kinds decide the answer, and the first one registered wins.
import { describeIssues, FaultInputSchema, type FaultSpec } from './schemas.js';
import { EmulatorInputError, type EmulatorExchange, type FaultKind } from './types.js';

export interface Fault extends FaultSpec {
  id: string;
  /** requests this fault has affected so far */
  hits: number;
}

export type TerminalKind = Exclude<FaultKind, 'latency' | 'clock_skew'>;

export interface FaultEffect {
  latencyMs: number;
  skewMs: number;
  terminal?: { kind: TerminalKind; status?: number };
}

export class FaultRegistry {
  private faults: Fault[] = [];
  private nextId = 1;

  add(input: unknown): Fault {
    const parsed = FaultInputSchema.safeParse(input);
    if (!parsed.success) throw new EmulatorInputError(`invalid fault: ${describeIssues(parsed.error)}`);
    const fault: Fault = { ...parsed.data, id: `f${this.nextId++}`, hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  clear(): number {
    const n = this.faults.length;
    this.faults = [];
    return n;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  private matches(f: Fault, exchange: EmulatorExchange, apiKey: string | undefined, path: string): boolean {
    if (f.exchange !== exchange) return false;
    if (f.apiKey !== undefined && f.apiKey !== apiKey) return false;
    if (f.path !== undefined && f.path !== path) return false;
    return true;
  }

  /** Applies the faults matching one request and uses up their counts. */
  take(exchange: EmulatorExchange, apiKey: string | undefined, path: string): FaultEffect {
    const effect: FaultEffect = { latencyMs: 0, skewMs: 0 };
    for (const f of this.faults) {
      if (!this.matches(f, exchange, apiKey, path)) continue;
      if (f.kind === 'latency') effect.latencyMs += f.ms ?? 0;
      else if (f.kind === 'clock_skew') effect.skewMs += f.ms ?? 0;
      else if (effect.terminal) continue; // a later terminal fault does not fire, and keeps its count
      else effect.terminal = { kind: f.kind, status: f.status };
      f.hits += 1;
    }
    this.faults = this.faults.filter((f) => f.count === undefined || f.hits < f.count);
    return effect;
  }
}
