#!/usr/bin/env node
// edge-agent's command line. Every failure ends with a message a technician can act on and a
// distinct exit code (78 for config problems); stack traces only with EDGE_AGENT_DEBUG=1.
import { Command } from 'commander';
import { loadConfigFile } from '../agent-config/load.ts';
import { AgentError, ExitCode } from '../errors.ts';
import { fetchStatus, statusSocketPath } from '../status/local-api.ts';
import { AGENT_VERSION } from '../version.ts';
import { resolveConfigPath, SYSTEM_CONFIG } from './config-path.ts';
import { formatStatus } from './status-text.ts';
import { summarizeConfig } from './summary.ts';

const program = new Command()
  .name('edge-agent')
  .description('Reads serial and Modbus sensors, stores every reading locally, forwards them to the cloud.')
  .version(AGENT_VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (text, write) => write(text) })
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : ExitCode.usage);
  });

const configOption = ['-c, --config <path>', `config file (default: ./agent.config.json if present, else ${SYSTEM_CONFIG})`] as const;

program
  .command('run')
  .description('run the agent (what the systemd service starts)')
  .option(...configOption)
  .action(async (options: { config?: string }) => {
    const configPath = resolveConfigPath(options.config);
    // Before anything else: the single binary becomes the installed update when there is one (remote update).
    const { launchInstalledUpdate } = await import('../update/launch.ts');
    launchInstalledUpdate(configPath);
    // Loaded on demand: check-config, status and version stay fast and never open the outbox.
    const { runAgent } = await import('./run.ts');
    await runAgent(configPath);
  });

program
  .command('check-config')
  .description('validate the config file and show what would run; exit 0 if valid, 78 if not')
  .option(...configOption)
  .action((options: { config?: string }) => {
    const path = resolveConfigPath(options.config);
    const { config } = loadConfigFile(path);
    process.stdout.write(`OK ${path}\n${summarizeConfig(config)}\n`);
  });

program
  .command('status')
  .description("show the running agent's state: link, outbox, sensors, recent errors")
  .option(...configOption)
  .option('--json', 'print JSON instead of text')
  .option('-w, --watch', 'redraw every second until Ctrl-C (fits the terminal; NO_COLOR turns colour off)')
  .action(async (options: { config?: string; json?: boolean; watch?: boolean }) => {
    const path = resolveConfigPath(options.config);
    const { config } = loadConfigFile(path);
    const socket = statusSocketPath(config.agent.dataDir);
    if (options.watch) {
      const { watchStatus } = await import('./status-watch.ts');
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await watchStatus(socket, process.stdout, { signal: stop.signal });
      return;
    }
    let snapshot;
    try {
      snapshot = await fetchStatus(socket);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'is the agent running? (systemctl status edge-agent)' : code === 'EACCES' ? 'permission denied: run as root or as the edge-agent user' : String((error as Error).message);
      throw new AgentError(`cannot reach the agent at ${socket}: ${hint}`, ExitCode.unavailable);
    }
    process.stdout.write(options.json ? `${JSON.stringify(snapshot, null, 2)}\n` : `${formatStatus(snapshot)}\n`);
  });

program
  .command('ports')
  .description('list serial ports with their stable /dev/serial/by-id names (use those in the config)')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const { listSerialPorts, formatPorts } = await import('../sources/serial/port-list.ts');
    const ports = listSerialPorts();
    process.stdout.write(options.json ? `${JSON.stringify(ports, null, 2)}\n` : `${formatPorts(ports)}\n`);
  });

program
  .command('doctor')
  .description('check clock, config, data dir, serial ports, cloud reach, TLS, credentials and outbox; exit 1 on any FAIL')
  .option(...configOption)
  .action(async (options: { config?: string }) => {
    const { runDoctor } = await import('./doctor.ts');
    process.exitCode = await runDoctor(resolveConfigPath(options.config), { out: process.stdout });
  });

program
  .command('register')
  .description('register the device with its cloud (Xyte) and print its id; the agent does this by itself on first start')
  .option(...configOption)
  .action(async (options: { config?: string }) => {
    const { runRegister } = await import('./register.ts');
    await runRegister(resolveConfigPath(options.config), process.stdout);
  });

program
  .command('health-sample', { hidden: true })
  .description('print one gateway health sample (checks systeminformation inside the binary)')
  .action(async () => {
    const { runHealthSample } = await import('./health-sample.ts');
    process.exitCode = await runHealthSample(process.stdout);
  });

program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`edge-agent ${AGENT_VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  });

// No top-level await: the binary's bundle is CommonJS (the only main script Node 24's SEA runs).
program.parseAsync(process.argv).catch((error: unknown) => {
  const debug = process.env.EDGE_AGENT_DEBUG === '1';
  if (error instanceof AgentError) {
    process.stderr.write(`edge-agent: ${error.message}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exit(error.exitCode);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`edge-agent: unexpected error: ${message}\n${debug && error instanceof Error ? `${error.stack}\n` : '(set EDGE_AGENT_DEBUG=1 for details)\n'}`);
  process.exit(ExitCode.software);
});
