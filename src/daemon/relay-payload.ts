// The bytes of one relayed event. Plain JSON when it fits the server's max_payload; gzip-compressed
// JSON (header Content-Encoding: gzip) when it does not, since a big account snapshot must still
// be published whole. Consumers call decodePayload and never need to know which one they got.
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Envelope } from '../events/envelope.js';

const gzipAsync = promisify(gzip);

export const CONTENT_ENCODING = 'Content-Encoding';
/** The server's default, used until the connection has told us its own. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
}

export interface EncodedPayload {
  data: Uint8Array;
  gzip: boolean;
  /** Size of the JSON before compression. */
  jsonBytes: number;
}

/**
 * `budget` is the room left for the body: max_payload minus the message's headers (the server
 * counts both). Throws PayloadTooLargeError when even the compressed body does not fit.
 */
export async function encodePayload(envelope: Envelope, budget: number): Promise<EncodedPayload> {
  const json = Buffer.from(JSON.stringify(envelope));
  if (json.length <= budget) return { data: json, gzip: false, jsonBytes: json.length };
  const zipped = await gzipAsync(json, { level: 6 });
  if (zipped.length <= budget) return { data: zipped, gzip: true, jsonBytes: json.length };
  throw new PayloadTooLargeError(
    `event ${envelope.id} (${envelope.type}, stream ${envelope.stream}) is ${json.length} bytes, ${zipped.length} gzipped; ` +
      `the NATS server accepts ${budget} (max_payload minus headers). Raise max_payload in the nats-server configuration; ` +
      `the relay retries this event and stops at it until then`,
  );
}

/** The envelope of a relayed message, whether or not it was compressed. */
export function decodePayload(data: Uint8Array, headers?: MsgHdrs): Envelope {
  const gz = headers?.get(CONTENT_ENCODING)?.toLowerCase() === 'gzip';
  const bytes = gz ? gunzipSync(data) : data;
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Envelope;
}
