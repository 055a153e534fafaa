import type { StatusSnapshot } from '../status/snapshot.ts';
import type { HealthConfig } from './config.ts';

export interface HealthVerdict {
  healthy: boolean;
  reasons: string[];
}

/** One destination as /health shows it (several clouds): enough to tell which one needs a look. */
export interface DestinationHealth {
  link: string;
  since: string;
  pending: number;
  oldestAgeSeconds: number | null;
  refusedMessages: number;
  refusing: string | null;
  dropped: number;
}

/** /health's body: the verdict, and with several destinations each one's state by id. */
export function healthBody(s: StatusSnapshot, verdict: HealthVerdict): Record<string, unknown> {
  const body: Record<string, unknown> = { status: verdict.healthy ? 'ok' : 'unhealthy', reasons: verdict.reasons };
  if (s.destinations) {
    const destinations: Record<string, DestinationHealth> = {};
    for (const [id, d] of Object.entries(s.destinations)) {
      destinations[id] = {
        link: d.state,
        since: new Date(d.since).toISOString(),
        pending: d.pending,
        oldestAgeSeconds: d.oldestTs === null ? null : Math.max(0, Math.round((s.now - d.oldestTs) / 1000)),
        refusedMessages: d.refusedMessages,
        refusing: d.refusing,
        dropped: d.dropped,
      };
    }
    body.destinations = destinations;
  }
  return body;
}

/** What /health answers: healthy unless the link, the outbox or a sensor says otherwise. */
export function evaluateHealth(s: StatusSnapshot, config: HealthConfig): HealthVerdict {
  const reasons: string[] = [];
  // Each destination's link, named when there are several.
  const links = s.destinations ? Object.entries(s.destinations).map(([id, link]) => [`destination ${id}: `, link] as const) : [['', s.link] as const];
  for (const [name, link] of links) {
    if (link.state !== 'connected' && s.now - link.since > config.linkDownAfter) {
      reasons.push(`${name}cloud link ${link.state} for ${Math.round((s.now - link.since) / 1000)} s${link.lastError ? ` (last error: ${link.lastError})` : ''}`);
    }
    if (link.refusing) reasons.push(`${name}${link.refusing}`);
  }
  if (s.outbox.maxBytes > 0 && s.outbox.bytes >= s.outbox.maxBytes * config.outboxFullRatio) {
    reasons.push(`outbox ${Math.round((100 * s.outbox.bytes) / s.outbox.maxBytes)}% full (${s.outbox.pending} readings pending)`);
  }
  const unavailable = s.outbox.unavailable;
  if (unavailable) {
    reasons.push(`the outbox cannot be opened for ${Math.round((s.now - unavailable.since) / 1000)} s (${unavailable.reason}); ${unavailable.held} readings held in memory, ${s.outbox.unstored ?? 0} not stored since start`);
  } else if (s.outbox.diskFull) reasons.push('the disk holding the outbox is full');
  for (const [id, sensor] of Object.entries(s.sensors)) {
    const last = sensor.lastReadingAt ?? s.startedAt;
    if (s.now - last > config.sensorSilentAfter) reasons.push(`sensor ${id} silent for ${Math.round((s.now - last) / 1000)} s${sensor.lastError ? ` (last error: ${sensor.lastError})` : ''}`);
  }
  return { healthy: reasons.length === 0, reasons };
}
