// Stream ids: one stream per exchange account, '<exchange>:<account>'.

export interface AccountKey {
  exchange: string;
  account: string;
}

export function accountStream(exchange: string, account: string): string {
  return `${exchange}:${account}`;
}

export function parseAccountStream(streamId: string): AccountKey {
  const i = streamId.indexOf(':');
  if (i <= 0 || i === streamId.length - 1) throw new Error(`not an account stream id: "${streamId}"`);
  return { exchange: streamId.slice(0, i), account: streamId.slice(i + 1) };
}
