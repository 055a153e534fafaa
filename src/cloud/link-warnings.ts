// What is unsafe about a cloud link: certificates not checked, credentials sent unencrypted, or
// credentials typed into the URL, where they are not used.
// Both are valid settings (a test bench, a broker on the same LAN), so nothing refuses them; the
// agent logs them at warn level on every pipeline start, check-config prints them and doctor turns
// its TLS line to WARN. One judgement for all three, so they always agree.
// Each adapter says what its config exposes (AdapterDefinition.linkFacts); this file judges it.
import type { Logger } from '../log.ts';

export interface LinkFacts {
  /** The broker URL the agent will use; undefined when it is learned only at registration (Xyte). */
  url: string | undefined;
  /** The secret sent at CONNECT, in words ("the password", "the SAS token"); undefined when none (anonymous, X.509). */
  credentials: string | undefined;
  /** cloud.tls.rejectUnauthorized: also governs the HTTPS registrations of Xyte. */
  verifyCertificates: boolean;
  /** How to get an encrypted link when the URL is plain, when not by cloud.url (Alibaba: cloud.transport). */
  encryptHint?: string;
}

export type LinkWarningEvent = 'tls-verification-off' | 'credentials-in-clear' | 'credentials-in-url-ignored';

export interface LinkWarning {
  event: LinkWarningEvent;
  /** Names the endpoint (scheme, host, port) and the kind of secret, never the secret. */
  message: string;
  fix: string;
  /** Scheme, host and port only: a URL may carry user:password@ or a token in its query. */
  endpoint?: string;
}

export function linkWarnings(facts: LinkFacts): LinkWarning[] {
  const endpoint = facts.url === undefined ? undefined : endpointOf(facts.url);
  const where = endpoint ?? 'the cloud';
  const warnings: LinkWarning[] = [];
  if (!facts.verifyCertificates) {
    warnings.push({
      event: 'tls-verification-off',
      message: `certificate verification is off (cloud.tls.rejectUnauthorized is false): anyone on the network path can pose as ${where} and read or change readings and commands${facts.credentials ? `, and learn ${facts.credentials}` : ''}`,
      fix: 'remove cloud.tls.rejectUnauthorized; for a broker with a private CA, set cloud.tls.ca to that CA instead',
      ...(endpoint ? { endpoint } : {}),
    });
  }
  if (facts.url !== undefined && facts.credentials !== undefined && isPlain(facts.url)) {
    warnings.push({
      event: 'credentials-in-clear',
      message: `${where} is not encrypted: ${facts.credentials} and the data cross the network in clear`,
      fix: facts.encryptHint ?? 'use mqtts:// (usually port 8883) or wss:// in cloud.url',
      ...(endpoint ? { endpoint } : {}),
    });
  }
  // The agent hands mqtt.js host and port only: a user name and password typed into the URL were never
  // sent, and the broker's "not authorized" would not say why.
  if (facts.url !== undefined && hasUserInfo(facts.url)) {
    warnings.push({
      event: 'credentials-in-url-ignored',
      message: `the user name and password written into cloud.url (${where}) are not used: the agent connects with the credentials of the cloud section's own settings`,
      fix: 'remove them from cloud.url; for a generic MQTT broker set cloud.username and cloud.password (a secret: never logged, redacted by config.get, and {"file": …} or {"env": …} keeps it out of the config file)',
      ...(endpoint ? { endpoint } : {}),
    });
  }
  return warnings;
}

/** At warn level, once per pipeline start: a standing risk, not an event worth repeating on every reconnect. */
export function logLinkWarnings(log: Logger, warnings: LinkWarning[]): void {
  for (const warning of warnings) {
    log.warn({ event: warning.event, ...(warning.endpoint ? { endpoint: warning.endpoint } : {}), fix: warning.fix }, `${warning.message}; fix: ${warning.fix}`);
  }
}

function hasUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

function isPlain(url: string): boolean {
  return /^(mqtt|ws):/i.test(url);
}

function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'the cloud';
  }
}
