// A bybit ccxt instance is ~250 KB of heap (one closure per REST endpoint, per-instance copies of
// api/options/has), so one instance per account made memory grow with the account list. Instead
// accounts that would build identical instances (same exchange, endpoint set and ccxt options)
// share a small pool of them, at most `concurrencyPerExchange`, created on first use. A snapshot
// borrows one while it holds its limiter slot, puts its account's credentials on it for the
// duration, and hands it back with the credentials and any per-call state wiped.
import { createHash } from 'node:crypto';
import type { Account } from '../config.js';
import { createInstance, endpointKey, type Instance, type InstanceSettings } from './instances.js';

type Dict = Record<string, unknown>;
type Credentials = Pick<Account, 'apiKey' | 'secret' | 'password'>;
type PoolAccount = Pick<Account, 'exchange' | 'testnet' | 'apiUrl' | 'options'>;

const CREDENTIAL_FIELDS = ['apiKey', 'secret', 'password'] as const;
// ccxt keeps the last request (signed URL, headers, body) and the last reply on the instance.
const LAST_CALL_FIELDS = ['last_http_response', 'last_json_response', 'last_response_headers', 'last_request_headers', 'last_request_body', 'last_request_url'] as const;
// The clock offset is a property of the endpoint, not of a key: kept by the pool, not the instance.
const CLOCK_FIELDS = new Set(['timeDifference', 'adjustForTimeDifference']);

/** JSON with sorted keys, so {a,b} and {b,a} name the same pool. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Dict;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

/** Identity of an instance configuration: endpoint set plus a stable hash of the ccxt options. */
export function instanceKey(account: PoolAccount): string {
  const hash = createHash('sha256').update(stableJson(account.options ?? {})).digest('hex').slice(0, 16);
  return `${endpointKey(account)}|${hash}`;
}

interface Pooled {
  inst: Instance;
  /** The top-level `options` entries as built, restored on release (ccxt caches per-key facts there). */
  options: Dict;
  /** The credential fields as built (no one's key). */
  blank: Dict;
}

export interface Clock {
  timeDifference: number;
  adjustForTimeDifference: boolean;
}

export class InstancePool {
  private readonly free: Pooled[] = [];
  private readonly busy = new Map<Instance, Pooled>();
  private created = 0;
  /** Set by the first clock resync; applied to every instance the pool lends out. */
  clock: Clock | null = null;

  /** What the instances are built from: never credentials (those come with each acquire). */
  private readonly account: PoolAccount;

  constructor(
    readonly key: string,
    account: PoolAccount,
    private readonly settings: InstanceSettings,
    readonly max: number,
  ) {
    this.account = { exchange: account.exchange, testnet: account.testnet, apiUrl: account.apiUrl, options: account.options };
  }

  get size(): number {
    return this.created;
  }

  get inUse(): number {
    return this.busy.size;
  }

  /** Builds the first instance now, so a misconfigured account fails before it takes a slot. */
  prime(): void {
    if (this.created === 0) this.free.push(this.build());
  }

  /**
   * Lends an instance carrying `credentials`. Only call it while holding the endpoint's limiter
   * slot: the limiter's cap equals the pool's size, so a free or creatable instance always exists.
   */
  acquire(credentials: Credentials): Instance {
    let p = this.free.pop();
    if (!p) {
      if (this.created >= this.max) throw new Error(`instance pool ${this.key} exhausted (${this.max} in use)`);
      p = this.build();
    }
    this.busy.set(p.inst, p);
    const inst = p.inst as unknown as Dict;
    for (const f of CREDENTIAL_FIELDS) inst[f] = credentials[f] ?? p.blank[f];
    if (this.clock) Object.assign(p.inst.options, this.clock);
    return p.inst;
  }

  /** Takes an instance back: credentials, last request/reply and per-call option caches wiped. */
  release(instance: Instance): void {
    const p = this.busy.get(instance);
    if (!p) throw new Error('released an instance the pool did not lend');
    this.busy.delete(instance);
    const inst = instance as unknown as Dict;
    for (const f of CREDENTIAL_FIELDS) inst[f] = p.blank[f];
    for (const f of LAST_CALL_FIELDS) inst[f] = undefined;
    const opts = instance.options as Dict;
    for (const k of Object.keys(opts)) {
      if (CLOCK_FIELDS.has(k)) continue;
      if (!(k in p.options)) delete opts[k];
      else if (opts[k] !== p.options[k]) opts[k] = p.options[k];
    }
    this.free.push(p);
  }

  private build(): Pooled {
    const inst = createInstance(this.account, this.account.options ?? {}, this.settings);
    this.created++;
    const raw = inst as unknown as Dict;
    const blank: Dict = {};
    for (const f of CREDENTIAL_FIELDS) blank[f] = raw[f];
    return { inst, options: { ...(inst.options as Dict) }, blank };
  }
}
