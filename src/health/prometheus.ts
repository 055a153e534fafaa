// /metrics in the Prometheus text exposition format (version 0.0.4), for Prometheus and Telegraf.
import type { DestinationStatus, LinkStatus, StatusSnapshot } from '../status/snapshot.ts';
import type { GatewaySample } from './gateway-sampler.ts';

type Labels = Record<string, string>;

class Exposition {
  readonly #lines: string[] = [];
  metric(name: string, type: 'counter' | 'gauge', help: string, samples: [Labels, number][]): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.#lines.push(`${name}${formatLabels(labels)} ${Number.isFinite(value) ? value : 'NaN'}`);
  }
  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/** The agent's own memory, as process.memoryUsage() reports it. */
export type ProcessMemory = Pick<NodeJS.MemoryUsage, 'rss' | 'heapUsed'>;

export function renderPrometheus(s: StatusSnapshot, gateway: GatewaySample | undefined, memory: ProcessMemory = process.memoryUsage()): string {
  const out = new Exposition();
  const one = (value: number): [Labels, number][] => [[{}, value]];
  const perSensor = (pick: (sensor: StatusSnapshot['sensors'][string]) => number): [Labels, number][] => Object.entries(s.sensors).map(([id, sensor]) => [{ sensor: id }, pick(sensor)]);
  out.metric('edge_agent_info', 'gauge', 'Agent version and id.', [[{ version: s.version, agent: s.agentId, provider: s.link.provider }, 1]]);
  out.metric('edge_agent_uptime_seconds', 'gauge', 'Seconds since the agent started.', one((s.now - s.startedAt) / 1000));
  // One series per destination, labelled with its id, when there are several; unlabelled with one, as always.
  const links: [Labels, LinkStatus][] = s.destinations ? Object.entries(s.destinations).map(([destination, link]) => [{ destination }, link]) : [[{}, s.link]];
  const perLink = (pick: (link: LinkStatus) => number): [Labels, number][] => links.map(([labels, link]) => [labels, pick(link)]);
  out.metric('edge_agent_link_up', 'gauge', '1 while connected to the cloud.', perLink((l) => (l.state === 'connected' ? 1 : 0)));
  out.metric('edge_agent_link_reconnects_total', 'counter', 'Reconnections to the cloud.', perLink((l) => l.reconnects));
  out.metric('edge_agent_published_readings_total', 'counter', 'Readings acknowledged by the cloud.', perLink((l) => l.publishedReadings));
  out.metric('edge_agent_published_messages_total', 'counter', 'Messages acknowledged by the cloud.', perLink((l) => l.publishedMessages));
  out.metric('edge_agent_sent_bytes_total', 'counter', 'Payload and topic bytes published.', perLink((l) => l.bytesSent));
  out.metric('edge_agent_publish_rate', 'gauge', 'Readings per second delivered over the last minute.', perLink((l) => l.publishRate));
  out.metric('edge_agent_publish_refused_total', 'counter', 'Messages the cloud refused (MQTT 5 PUBACK reason code); their readings are kept and sent again.', perLink((l) => l.refusedMessages));
  out.metric('edge_agent_in_flight_messages', 'gauge', 'Messages published and not yet acknowledged.', perLink((l) => l.inFlight));
  if (s.destinations) {
    const perDestination = (pick: (d: DestinationStatus) => number): [Labels, number][] => Object.entries(s.destinations!).map(([destination, d]) => [{ destination }, pick(d)]);
    out.metric('edge_agent_destination_pending', 'gauge', 'Readings stored and not yet acknowledged by this destination.', perDestination((d) => d.pending));
    out.metric('edge_agent_destination_oldest_age_seconds', 'gauge', 'Age of the oldest reading this destination has not acknowledged.', perDestination((d) => (d.oldestTs === null ? 0 : (s.now - d.oldestTs) / 1000)));
    out.metric('edge_agent_destination_dropped_readings_total', 'counter', 'Readings retention dropped before this destination acknowledged them.', perDestination((d) => d.dropped));
  }
  out.metric('edge_agent_outbox_pending', 'gauge', 'Readings stored and not yet delivered.', one(s.outbox.pending));
  out.metric('edge_agent_outbox_oldest_age_seconds', 'gauge', 'Age of the oldest pending reading.', one(s.outbox.oldestTs === null ? 0 : (s.now - s.outbox.oldestTs) / 1000));
  out.metric('edge_agent_outbox_bytes', 'gauge', 'Bytes used by the outbox.', one(s.outbox.bytes));
  out.metric('edge_agent_outbox_max_bytes', 'gauge', 'Configured outbox limit.', one(s.outbox.maxBytes));
  out.metric('edge_agent_outbox_disk_full', 'gauge', '1 while the disk holding the outbox is full.', one(s.outbox.diskFull ? 1 : 0));
  out.metric('edge_agent_outbox_available', 'gauge', '0 while the outbox file cannot be opened (full disk or I/O error at start); readings are held in memory meanwhile.', one(s.outbox.unavailable ? 0 : 1));
  out.metric('edge_agent_outbox_held_readings', 'gauge', 'Readings held in memory because the outbox cannot be opened.', one(s.outbox.unavailable?.held ?? 0));
  out.metric('edge_agent_outbox_unstored_readings_total', 'counter', 'Readings that arrived while the outbox could not be opened (held in memory, then stored or dropped).', one(s.outbox.unstored ?? 0));
  if (typeof s.storageWrittenBytes === 'number') out.metric('edge_agent_storage_written_bytes_total', 'counter', 'Bytes the agent caused to be written to storage since it started (/proc/self/io write_bytes; the outbox above all): the wear on an SD card or eMMC.', one(s.storageWrittenBytes));
  out.metric('edge_agent_dropped_readings_total', 'counter', 'Readings dropped by retention or as too large, per sensor.', Object.entries(s.outbox.dropped).map(([sensor, n]) => [{ sensor }, n]));
  out.metric('edge_agent_sensor_readings_total', 'counter', 'Readings taken per sensor.', perSensor((x) => x.readings));
  out.metric('edge_agent_sensor_reported_total', 'counter', 'Readings per sensor that its report mode let through to the outbox (every, change or window).', perSensor((x) => x.reported));
  out.metric('edge_agent_sensor_parse_errors_total', 'counter', 'Input that could not be decoded, per sensor.', perSensor((x) => x.parseErrors));
  out.metric('edge_agent_sensor_io_errors_total', 'counter', 'Port, timeout and device errors, per sensor.', perSensor((x) => x.ioErrors));
  out.metric('edge_agent_sensor_last_reading_age_seconds', 'gauge', 'Seconds since the sensor last produced a reading.', perSensor((x) => (x.lastReadingAt === null ? NaN : (s.now - x.lastReadingAt) / 1000)));
  out.metric('edge_agent_commands_total', 'counter', 'Commands by outcome (dropped: not answered, in a flood or too large to read).', (['succeeded', 'failed', 'refused', 'dropped'] as const).map((outcome) => [{ outcome }, s.commands[outcome] ?? 0]));
  out.metric('edge_agent_process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process (RSS).', one(memory.rss));
  out.metric('edge_agent_process_heap_used_bytes', 'gauge', 'JavaScript heap in use by the agent.', one(memory.heapUsed));
  out.metric('edge_agent_clock_synchronized', 'gauge', '1 when the system clock looks synchronized.', one(s.clockSynchronized ? 1 : 0));
  if (gateway) {
    for (const [key, value] of Object.entries(gateway)) {
      const net = /^net\.(.+)\.(rx|tx)Bytes$/.exec(key);
      if (net) continue;
      out.metric(`edge_agent_gateway_${key.replace(/[^A-Za-z0-9]/g, '_').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()}`, 'gauge', `Gateway ${key}.`, one(value));
    }
    const nets = Object.entries(gateway).flatMap(([key, value]): [Labels, number][] => {
      const m = /^net\.(.+)\.(rx|tx)Bytes$/.exec(key);
      return m ? [[{ interface: m[1]!, direction: m[2]! }, value]] : [];
    });
    if (nets.length > 0) out.metric('edge_agent_gateway_network_bytes_total', 'counter', 'Bytes through each network interface.', nets);
  }
  return out.text();
}
