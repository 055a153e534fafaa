// `check-config` prints what would run, so a technician sees the effect of an edit before restarting.
// An unsafe link (certificates unchecked, credentials in clear) is valid, so it is a WARNING line
// that leaves the exit code 0.
import bytes from 'bytes';
import ms from 'ms';
import { destinationsOf, type AgentConfig, type DestinationConfig } from '../agent-config/schema.ts';
import { cloudDescription, cloudLinkWarnings } from '../cloud/adapters/index.ts';
import { redactUrl } from '../cloud/mqtt-options.ts';

export function summarizeConfig(config: AgentConfig): string {
  const destinations = destinationsOf(config);
  const describe = (cloud: DestinationConfig) => {
    const how = cloudDescription(cloud, config.agent.id);
    return `${cloud.provider}${cloud.url ? `  ${redactUrl(cloud.url)}` : ''}${how ? `  ${how}` : ''}`;
  };
  const lines = [
    `agent      ${config.agent.id}  (data in ${config.agent.dataDir}, log level ${config.agent.logLevel})`,
    ...(config.clouds
      ? [
          `clouds     ${destinations.length}: every reading goes to each that wants it, at least once, each at its own pace`,
          ...destinations.map(
            (cloud) =>
              `  - ${cloud.id}  ${describe(cloud)}${cloud.sensors ? `  sensors ${cloud.sensors.join(', ')}` : ''}${cloud.commands ? `  commands allowed: ${cloud.commands.allow.length === 0 ? 'none' : cloud.commands.allow.join(', ')}` : ''}`,
          ),
        ]
      : [`cloud      ${describe(destinations[0]!)}`]),
    `sensors    ${config.sensors.length === 0 ? 'none' : ''}`,
    ...config.sensors.map((sensor) => `  - ${sensor.id}  ${sensor.type}${describeSensor(sensor as unknown as Record<string, unknown>)}`),
    `outbox     up to ${bytes(config.outbox.maxBytes)} / ${ms(config.outbox.maxAge, { long: true })}, then ${config.outbox.whenFull}; sync ${config.outbox.sync}; ${config.outbox.order}`,
    `commands   allowed: ${config.commands.allow.length === 0 ? 'none' : config.commands.allow.join(', ')}`,
    `update     ${config.update.publicKeys.length === 0 ? 'off (no update.publicKeys: agent.update is refused)' : `agent.update accepted when signed by ${config.update.publicKeys.length} key(s); rolled back unless connected within ${ms(config.update.confirmWithin)}`}`,
    ...destinations.flatMap((cloud) => cloudLinkWarnings(cloud).map((warning) => `WARNING    ${config.clouds ? `${cloud.id}: ` : ''}${warning.message}\n           fix: ${warning.fix}`)),
  ];
  return lines.join('\n');
}

function describeSensor(sensor: Record<string, unknown>): string {
  const parts: string[] = [];
  const port = sensor.port ?? (sensor.bus as { port?: unknown } | undefined)?.port;
  if (typeof port === 'string') parts.push(`on ${port}`);
  if (typeof sensor.interval === 'number') parts.push(`every ${ms(sensor.interval)}`);
  if (typeof sensor.schedule === 'string') parts.push(`at "${sensor.schedule}"`);
  return parts.length > 0 ? `  ${parts.join(', ')}` : '';
}
