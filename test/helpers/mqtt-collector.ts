// A subscriber that records what reaches a broker, and checks that every seq of a sensor arrived.
import mqtt, { type MqttClient } from 'mqtt';

export interface Collector {
  client: MqttClient;
  messages: { topic: string; payload: Buffer }[];
  /** seq -> times received, from generic-adapter JSON arrays (values.seq of each item). */
  seqs: Map<number, number>;
  waitForSeqs(count: number, timeoutMs?: number): Promise<void>;
  waitForMessage(predicate: (topic: string, payload: Buffer) => boolean, timeoutMs?: number): Promise<{ topic: string; payload: Buffer }>;
  close(): Promise<void>;
}

export async function collect(url: string, topic: string, options: mqtt.IClientOptions = {}): Promise<Collector> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, clean: false, clientId: `collector-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, ...options });
  const messages: { topic: string; payload: Buffer }[] = [];
  const seqs = new Map<number, number>();
  const listeners = new Set<() => void>();
  client.on('message', (t, payload) => {
    messages.push({ topic: t, payload });
    try {
      const items = JSON.parse(payload.toString('utf8')) as unknown;
      for (const item of Array.isArray(items) ? items : [items]) {
        const seq = (item as { values?: { seq?: unknown } }).values?.seq;
        if (typeof seq === 'number') seqs.set(seq, (seqs.get(seq) ?? 0) + 1);
      }
    } catch {
      // not JSON: kept in messages only
    }
    for (const listener of listeners) listener();
  });
  await client.subscribeAsync(topic, { qos: 1 });
  const waitFor = <T>(check: () => T | undefined, timeoutMs: number, what: () => string) =>
    new Promise<T>((resolve, reject) => {
      const done = check();
      if (done !== undefined) return resolve(done);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const listener = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(value);
      };
      listeners.add(listener);
    });
  return {
    client,
    messages,
    seqs,
    waitForSeqs: (count, timeoutMs = 30_000) =>
      waitFor(
        () => {
          for (let seq = 1; seq <= count; seq++) if (!seqs.has(seq)) return undefined;
          return true;
        },
        timeoutMs,
        () => {
          const missing: number[] = [];
          for (let seq = 1; seq <= count && missing.length < 10; seq++) if (!seqs.has(seq)) missing.push(seq);
          return `seqs 1..${count} (have ${seqs.size}; first missing: ${missing.join(', ')})`;
        },
      ).then(() => undefined),
    waitForMessage: (predicate, timeoutMs = 15_000) => waitFor(() => messages.find((m) => predicate(m.topic, m.payload)), timeoutMs, () => 'a matching message'),
    close: () => client.endAsync(),
  };
}
