// Runs a cloud's credentials part behind the session's two calls, so the session knows nothing of
// registration: connectOptions() resolves the credentials (or registers, with the shared backoff,
// throwing CredentialsUnavailableError with retryAfterMs while it cannot), hands them to the pure
// adapter and asks it for its options; onAuthRejected() tells the part, which sets stored
// credentials aside so the next connect registers again.
import mqtt from 'mqtt';
import { systemTimers } from '../../timers.ts';
import type { AdapterContext, AdapterDefinition, CloudAdapter } from '../adapter.ts';
import { CredentialsUnavailableError } from '../errors.ts';
import { httpsPost } from '../https-post.ts';
import type { CredentialsContext, CredentialsPart, ResolvedCredentials } from './credentials-part.ts';
import { deviceStore } from './device-store.ts';
import { formatDelay, registrationRetryDelay } from './registration-backoff.ts';
import { RegistrationError } from './registration-error.ts';

/** The context with its device store (read-only when ctx.readOnly), transports and timers filled in. */
export function credentialsContext(ctx: AdapterContext): CredentialsContext {
  return {
    ...ctx,
    store: ctx.store ?? deviceStore(ctx.dataDir, { readOnly: ctx.readOnly === true }),
    https: ctx.https ?? httpsPost,
    mqttConnect: ctx.mqttConnect ?? ((options) => mqtt.connect(options)),
    timers: ctx.timers ?? systemTimers,
  };
}

/** The adapter a definition creates, with its credentials part (if any) run behind connectOptions and onAuthRejected. */
export function superviseCredentials(definition: AdapterDefinition, config: unknown, adapterContext: AdapterContext): CloudAdapter {
  const ctx = credentialsContext(adapterContext);
  const part = definition.credentials;
  if (!part) return definition.create(config, ctx);

  let held: ResolvedCredentials<unknown> | undefined;
  let failures = 0;
  let lastRegistrationAttemptAt = Number.NEGATIVE_INFINITY;
  let refusalReported = false;
  const inner = definition.create(config, ctx, { current: () => held?.credentials });

  const obtain = async (): Promise<ResolvedCredentials<unknown>> => {
    const found = await part.resolve(config, ctx);
    if (found) return found;
    if (ctx.readOnly) throw new CredentialsUnavailableError(`not registered with ${part.cloud} yet (no ${part.kept} in ${ctx.dataDir}): the agent registers on its first start, or run: edge-agent register`, 0);
    lastRegistrationAttemptAt = ctx.now();
    try {
      const credentials = await part.register(config, ctx);
      failures = 0;
      return { credentials, source: 'stored' };
    } catch (error) {
      if (!(error instanceof RegistrationError)) throw error;
      const { minMs, maxMs, jitter } = part.backoff(config);
      // A cloud that said when to come back (429 with retry-after) is not asked sooner.
      const retryMs = Math.max(registrationRetryDelay(failures++, minMs, maxMs, Math.random, jitter), error.retryAfterMs ?? 0);
      throw new CredentialsUnavailableError(`${part.failure(config, error)}; retrying in ${formatDelay(retryMs)}`, retryMs, { cause: error });
    }
  };

  return {
    ...inner,
    async connectOptions() {
      held = await obtain();
      return inner.connectOptions();
    },
    onConnected() {
      refusalReported = false;
      return inner.onConnected?.() ?? [];
    },
    async onAuthRejected() {
      if (!held) return;
      if (held.source === 'config') {
        // Never replaced nor set aside: the part says what to check, once per outage.
        if (!refusalReported) await part.refused(config, ctx, held);
        refusalReported = true;
        return;
      }
      if (ctx.readOnly) return;
      // Just registered: do not hammer the registration endpoint.
      if (ctx.now() - lastRegistrationAttemptAt < part.backoff(config).minMs) return;
      await part.refused(config, ctx, held);
    },
  };
}

export type RegisterOutcome = { needed: false } | { needed: true; deviceId: string; endpoint: string; details?: [string, string][]; source: 'config' | 'stored' | 'registered' };

/**
 * `edge-agent register`: the credentials the device has, or a registration now. Throws
 * RegistrationError (with the part's sentence as message) when the cloud refuses or cannot be reached.
 */
export async function registerWith<Config, Credentials>(part: CredentialsPart<Config, Credentials> | undefined, config: Config, adapterContext: AdapterContext): Promise<RegisterOutcome> {
  if (!part || part.registers?.(config) === false) return { needed: false };
  const ctx = credentialsContext(adapterContext);
  const found = await part.resolve(config, ctx);
  let outcome: { credentials: Credentials; source: 'config' | 'stored' | 'registered' };
  if (found) {
    outcome = found;
  } else {
    try {
      outcome = { credentials: await part.register(config, ctx), source: 'registered' };
    } catch (error) {
      if (!(error instanceof RegistrationError)) throw error;
      throw new RegistrationError(part.failure(config, error), error.refusal, error.httpStatus, { cause: error, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) });
    }
  }
  return { needed: true, ...part.describe(config, outcome.credentials), source: outcome.source };
}
