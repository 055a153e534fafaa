// The few HTTPS calls a cloud needs besides MQTT (device registration). One POST, a bounded
// answer, a timeout: a registration endpoint that hangs must not hang the agent's link loop.

export interface HttpsAnswer {
  status: number;
  text: string;
}

export interface HttpsPostOptions {
  contentType: string;
  ca?: Buffer;
  timeoutMs?: number;
  rejectUnauthorized?: boolean;
}

/** The HTTPS client credentials parts get from their context (httpsPost below; tests may give another). */
export type HttpsPost = (url: string, body: string, options: HttpsPostOptions) => Promise<HttpsAnswer>;

const MAX_ANSWER_BYTES = 64 * 1024;

export const httpsPost: HttpsPost = (url, body, options) => {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise<HttpsAnswer>((resolve, reject) => {
    // node:https (and tls under it) loaded when a registration posts, not at every start.
    const req = process.getBuiltinModule('node:https').request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': options.contentType, 'content-length': Buffer.byteLength(body), accept: 'application/json' },
        timeout: timeoutMs,
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${new URL(url).host} within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end(body);
  });
};

export function parseJsonAnswer(answer: HttpsAnswer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    return undefined;
  }
}
