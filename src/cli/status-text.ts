// `edge-agent status` as text a technician reads over a slow SSH session: the important line first.
import bytes from 'bytes';
import ms from 'ms';
import type { LinkStatus, SensorStatus, StatusSnapshot } from '../status/snapshot.ts';

const ago = (now: number, at: number | null) => (at === null ? 'never' : `${ms(Math.max(0, now - at))} ago`);

export function formatStatus(s: StatusSnapshot): string {
  const link = s.link;
  const dropped = Object.values(s.outbox.dropped).reduce((a, b) => a + b, 0);
  const linkLines = (l: LinkStatus, first: string) => [
    `${first}${l.state} (${l.provider} ${l.endpoint}) since ${ago(s.now, l.since)}; ${l.reconnects} reconnects`,
    ...(l.state !== 'connected' && l.nextAttemptAt ? [`           next attempt in ${ms(Math.max(0, l.nextAttemptAt - s.now))}`] : []),
    ...(l.lastError ? [`           last error ${ago(s.now, l.lastErrorAt)}: ${l.lastError}`] : []),
    `           sent ${l.publishedReadings} readings in ${l.publishedMessages} messages, ${bytes(l.bytesSent)}; ${l.publishRate.toFixed(1)}/s; ${l.inFlight} in flight`,
  ];
  const lines = [
    `edge-agent ${s.version}  ${s.agentId}  up ${ms(s.now - s.startedAt)}  pid ${s.pid}`,
    ...(s.destinations
      ? Object.entries(s.destinations).flatMap(([id, d]) => [
          ...linkLines(d, `${id.padEnd(10)} `),
          `           ${d.pending} pending, oldest ${d.oldestTs === null ? '-' : ago(s.now, d.oldestTs)}; ${d.dropped} lost to retention before delivery${d.refusing ? `; REFUSING: ${d.refusing}` : ''}`,
        ])
      : [...linkLines(link, 'link       ').slice(0, -1), `sent       ${link.publishedReadings} readings in ${link.publishedMessages} messages, ${bytes(link.bytesSent)}; ${link.publishRate.toFixed(1)}/s; ${link.inFlight} in flight`]),
    `outbox     ${s.outbox.pending} pending${s.outbox.pendingReserved ? ` (+${s.outbox.pendingReserved} replies)` : ''}, oldest ${s.outbox.oldestTs === null ? '-' : ago(s.now, s.outbox.oldestTs)}, ${bytes(s.outbox.bytes)} of ${bytes(s.outbox.maxBytes)}; ${dropped} dropped${s.outbox.diskFull ? '; DISK FULL' : ''}`,
    ...(s.outbox.unavailable
      ? [
          `           UNAVAILABLE since ${ago(s.now, s.outbox.unavailable.since)}: ${s.outbox.unavailable.reason}`,
          `           ${s.outbox.unavailable.freeBytes === null ? '?' : bytes(s.outbox.unavailable.freeBytes)} free in ${s.outbox.unavailable.dataDir}; ${s.outbox.unavailable.held} readings held in memory; next attempt ${s.outbox.unavailable.nextAttemptAt === null ? 'now' : `in ${ms(Math.max(0, s.outbox.unavailable.nextAttemptAt - s.now))}`}`,
        ]
      : []),
    ...(typeof s.storageWrittenBytes === 'number' ? [`           ${bytes(s.storageWrittenBytes)} written to storage since start (${bytes(s.storageWrittenBytes / Math.max(1, (s.now - s.startedAt) / 86_400_000))}/day: the wear on an SD card)`] : []),
    ...(s.outbox.unstored ? [`           ${s.outbox.unstored} readings could not be stored on arrival (outbox unavailable)`] : []),
    ...Object.entries(s.outbox.dropped)
      .filter(([, n]) => n > 0)
      .map(([sensor, n]) => `           dropped ${n} from ${sensor}`),
    `clock      ${s.clockSynchronized ? 'synchronized' : 'NOT synchronized (readings are flagged; cloud sign-in waits)'}`,
    ...(s.update && (s.update.state !== 'idle' || s.update.last) ? [updateLine(s.update, s.now)] : []),
    `commands   ${s.commands.received} received, ${s.commands.succeeded} ok, ${s.commands.failed} failed, ${s.commands.refused} refused${s.commands.dropped ? `, ${s.commands.dropped} dropped unanswered (flood or oversize)` : ''}`,
    `sensors`,
    ...Object.entries(s.sensors).map(
      ([id, st]) =>
        `  ${id.padEnd(16)} ${st.type.padEnd(12)} ${String(st.readings).padStart(8)} readings${reduction(st)}, last ${ago(s.now, st.lastReadingAt)}; ${st.parseErrors} parse errors, ${st.ioErrors} I/O errors${st.lastError ? `; last error: ${st.lastError}` : ''}`,
    ),
    ...(s.recentErrors.length > 0 ? ['recent errors', ...s.recentErrors.slice(0, 5).map((e) => `  ${ago(s.now, e.at)}  [${e.component}] ${e.message}`)] : []),
  ];
  return lines.join('\n');
}

/** " (report on change: 12 reported, 1.1%)": what a report mode saves, for a technician tuning a deadband. */
function reduction(sensor: SensorStatus): string {
  if (sensor.report === 'every') return '';
  const share = sensor.readings === 0 ? '' : `, ${((100 * sensor.reported) / sensor.readings).toFixed(1)}%`;
  return ` (report ${sensor.report === 'change' ? 'on change' : 'per window'}: ${sensor.reported} reported${share})`;
}

function updateLine(u: NonNullable<StatusSnapshot['update']>, now: number): string {
  if (u.state === 'downloading') return `update     downloading ${u.version ?? '?'}: ${bytes(u.received ?? 0)}${u.total ? ` of ${bytes(u.total)}` : ''}`;
  if (u.state !== 'idle') return `update     ${u.state} ${u.version ?? ''}`;
  const last = u.last!;
  return `update     last: ${last.outcome} ${last.version} (from ${last.from}) ${ago(now, last.at)}${last.message ? `: ${last.message}` : ''}`;
}
