// `edge-agent run`: the daemon. Stops cleanly on SIGTERM/SIGINT, reloads on SIGHUP.
import { loadConfigFile } from '../agent-config/load.ts';
import { Agent } from '../agent.ts';
import { createLogger } from '../log.ts';
import { createServiceNotifier } from '../service/sd-notify.ts';

/** systemd's default TimeoutStopSec is 90 s, but the issue promises 5 s: whatever is unsent stays in the outbox. */
const STOP_DEADLINE_MS = 4500;

export async function runAgent(configPath: string): Promise<void> {
  const loaded = loadConfigFile(configPath);
  // The logger exists before the agent it reports errors to.
  const errors: { sink?: Agent } = {};
  const log = createLogger({
    level: loaded.config.agent.logLevel,
    onError: (message, fields) => errors.sink?.recordError(message, fields),
    onProblem: (level, message, fields) => errors.sink?.recordProblem(level, message, fields),
  });
  const running = new Agent(loaded, log);
  errors.sink = running;
  // systemd Type=notify: READY once sources and outbox are up; watchdog pings from this event loop,
  // so a hung loop stops them and systemd restarts the agent. Does nothing outside systemd.
  const notifier = createServiceNotifier({ log });

  process.on('uncaughtException', (error) => {
    log.fatal({ event: 'crash', err: error }, `unexpected error, exiting so systemd restarts the agent: ${error.message}`);
    log.flush();
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    // Keep running: a stray rejected promise in one part must not take the gateway's data path down.
    log.error({ event: 'unhandled-rejection', err: reason }, 'an operation failed without a handler (bug); the agent keeps running');
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, `received ${signal}: stopping`);
    notifier.stopping();
    const deadline = setTimeout(() => {
      log.warn({ event: 'stop-deadline' }, 'stop took too long; exiting (unsent readings stay in the outbox)');
      log.flush();
      process.exit(0);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    running
      .stop()
      .then(() => {
        log.info({ event: 'stopped' }, 'stopped');
        log.flush(() => process.exit(0));
      })
      .catch((error: unknown) => {
        log.error({ event: 'stop-failed', err: error }, 'stopping failed');
        log.flush(() => process.exit(0));
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info({ event: 'sighup' }, 'received SIGHUP: reloading the config');
    void running.reload().catch((error: unknown) => log.error({ event: 'reload-failed', err: error }, 'reload failed'));
  });

  await running.start();
  notifier.ready(`${loaded.config.sensors.length} sensor(s) -> ${loaded.config.cloud.provider}`);
  notifier.startWatchdog();
}
