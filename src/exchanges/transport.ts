// ccxt gives every instance its own undici Agent with a 60 s keep-alive pool: one idle socket
// set per instance (pooled instances, the market loaders) to the same host. Instances of one endpoint set share the first instance's Agent instead, and close()
// can shut every socket down.

interface Dispatcher {
  close(): Promise<void>;
}

interface Transported {
  loadFetchImplementation(): Promise<unknown>;
  fetchDispatcher: unknown;
}

function isDispatcher(d: unknown): d is Dispatcher {
  return d !== null && typeof d === 'object' && typeof (d as Dispatcher).close === 'function';
}

export class DispatcherPool {
  private readonly shared = new Map<string, Dispatcher>();
  private readonly adopted = new WeakSet<object>();

  /** Points `inst` at the pool's dispatcher for `key`, closing the one ccxt made for it. */
  async adopt(inst: Transported, key: string): Promise<void> {
    if (this.adopted.has(inst)) return;
    await inst.loadFetchImplementation();
    this.adopted.add(inst);
    const own = inst.fetchDispatcher;
    if (!isDispatcher(own)) return; // not on the undici path (custom fetch, bun): nothing to share
    const existing = this.shared.get(key);
    if (!existing) {
      this.shared.set(key, own);
      return;
    }
    if (own !== existing) {
      inst.fetchDispatcher = existing;
      await own.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const all = [...this.shared.values()];
    this.shared.clear();
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }
}
