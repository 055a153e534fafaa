// `edge-agent status --watch` as a technician sees it: run in a real 80x24 terminal (tmux), the
// screen captured as rendered, a few refreshes apart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CLI, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { waitUntil } from '../helpers/wait.ts';

const ESC = String.fromCharCode(27);

const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
})();

describe('status --watch in a terminal', { skip: !hasTmux && 'tmux not installed', timeout: 60_000 }, () => {
  let agent: AgentProcess;
  const sessions: string[] = [];
  const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

  before(async () => {
    agent = startAgent({ agent: { id: 'watch-test' }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 'boiler', type: 'simulated', interval: '200ms' }] });
    await agent.waitForLog((l) => l.event === 'started');
  });
  after(async () => {
    for (const name of sessions) {
      try {
        tmux('kill-session', '-t', name);
      } catch {
        // already gone
      }
    }
    await agent?.cleanup();
  });

  function watch(name: string, env: string): void {
    sessions.push(name);
    tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', name, `env ${env} ${process.execPath} ${CLI} status --watch --config ${agent.configPath}`);
  }
  const screen = (name: string) => tmux('capture-pane', '-p', '-t', name);
  const screenWithColour = (name: string) => tmux('capture-pane', '-p', '-e', '-t', name);

  it('redraws in place every second, within 80x24, the link state in colour', async () => {
    watch('watch-colour', 'TERM=xterm-256color');
    await waitUntil(() => screen('watch-colour').includes('Ctrl-C to quit'), 20_000, () => `the first frame; screen:\n${screen('watch-colour')}`);
    const first = screen('watch-colour');
    assert.match(first, /^edge-agent \S+ {2}watch-test {2}up /m);
    assert.match(first, /^ {2}boiler +simulated/m);
    const lines = first.split('\n');
    assert.ok(lines.length <= 24 + 1, `at most 24 lines, got ${lines.length}`);
    assert.ok(lines.every((l) => l.length <= 80), 'no line wider than the terminal');
    const readingsOf = (text: string) => Number(/boiler\s+simulated\s+(\d+) readings/.exec(text)?.[1] ?? -1);
    const before = readingsOf(first);
    await waitUntil(() => readingsOf(screen('watch-colour')) > before + 5, 10_000, () => `a later frame with more readings than ${before}; screen:\n${screen('watch-colour')}`);
    assert.match(screenWithColour('watch-colour'), new RegExp(`${ESC}\\[3[123]m(connecting|disconnected)`), 'the link state is coloured');
    tmux('send-keys', '-t', 'watch-colour', 'C-c');
    // The watch ends on Ctrl-C, and its session with it (tmux itself exits with its last session).
    const alive = () => {
      try {
        return tmux('list-sessions', '-F', '#{session_name}').includes('watch-colour');
      } catch {
        return false;
      }
    };
    await waitUntil(() => !alive(), 10_000, 'the watch to end on Ctrl-C');
  });

  it('NO_COLOR: the same facts, no colour', async () => {
    watch('watch-plain', 'NO_COLOR=1');
    await waitUntil(() => screen('watch-plain').includes('Ctrl-C to quit'), 20_000, () => `the first frame; screen:\n${screen('watch-plain')}`);
    assert.doesNotMatch(screenWithColour('watch-plain'), new RegExp(`${ESC}\\[3\\dm`));
    assert.match(screen('watch-plain'), /^link {7}(connecting|disconnected)/m);
  });
});
