import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Dependencies point one way: sources → outbox ← forwarder → session → adapters (issue #17).
// no-restricted-imports sees the import as written, not the file it resolves to, so each pattern
// climbs any number of '../' to the folder or file it keeps out; a nearer file of the same name is
// refused too (name it differently). It does not see dynamic import(). Checked by
// test/unit/lint-boundaries.test.ts.
const climbTo = (path) => `^(?:\\.\\./)+${path}`;
const boundary = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const boundaryAndPaths = (paths, ...patterns) => ({ 'no-restricted-imports': ['error', { patterns, paths }] });

const cliIntoAdapter = {
  regex: climbTo('cloud/adapters/(?!index\\.[jt]s$)'),
  message:
    "The CLI must not reach into one adapter (src/cloud/adapters/<name>.ts or its folder): go through the registry, src/cloud/adapters/index.ts, so adding or changing a cloud stays inside its adapter.",
};

// An adapter translates; the session owns the cloud link, and a credentials part registers through
// the transports and timers its CredentialsContext hands it (ctx.https, ctx.mqttConnect, ctx.timers,
// ctx.store). Type imports (mqtt's types) are fine; isIP is a pure function.
const noTransport =
  "An adapter holds no sockets, no timers and no files of its own: the session does the cloud link's I/O, and a credentials part registers through its CredentialsContext (ctx.https, ctx.mqttConnect, ctx.timers) and keeps device state in ctx.store, so tests drive it without a network, a disk or a wall clock.";
const adapterTransports = [
  { name: 'mqtt', allowTypeImports: true, message: noTransport },
  ...['net', 'node:net'].map((name) => ({ name, allowImportNames: ['isIP', 'isIPv4', 'isIPv6'], message: noTransport })),
  ...['tls', 'http', 'https', 'http2', 'dgram', 'timers', 'timers/promises', 'fs', 'fs/promises', 'child_process'].flatMap((name) => [name, `node:${name}`]).map((name) => ({ name, message: noTransport })),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'tmp/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Tests and emulators parse untrusted JSON on purpose; the agent validates it with zod at the boundary.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['src/cloud/adapters/**/*.ts'],
    rules: boundaryAndPaths(
      adapterTransports,
      {
        regex: climbTo('outbox(?:/|$)'),
        message:
          'An adapter must not import the outbox (src/outbox/): an adapter only encodes and decodes one cloud\'s messages; the forwarder leases from the outbox, has the adapter encode each batch and publishes it through the session.',
      },
      {
        regex: climbTo('(?:cloud/)?(?:forwarder|session)\\.[jt]s$'),
        message:
          'An adapter must not import the forwarder or the session (src/cloud/forwarder.ts, session.ts): they drive the adapter (the forwarder leases and acks, the session does the I/O), never the other way round, so a new cloud cannot change how messages are leased, retried or acknowledged.',
      },
      {
        regex: climbTo('(?:pipeline|agent)\\.[jt]s$'),
        message: 'An adapter must not import src/pipeline.ts or src/agent.ts: they wire the adapters together, so importing them back makes a cycle.',
      },
    ),
  },

  {
    files: ['src/sources/**/*.ts'],
    rules: boundary({
      regex: climbTo('(?:cloud|outbox|commands)(?:/|$)'),
      message:
        'A source must not import src/cloud/, src/outbox/ or src/commands/: sources only read sensors and hand each reading to SourceContext.emit, so they work and are tested without any cloud, store or command.',
    }),
  },
  {
    files: ['src/outbox/**/*.ts'],
    rules: boundary(
      {
        regex: climbTo('cloud(?:/|$)'),
        message: 'The outbox must not import src/cloud/: it stores readings for whichever cloud the forwarder sends them to, and the forwarder depends on it, not the other way round.',
      },
      {
        regex: climbTo('sources/(?!reading\\.[jt]s$)'),
        message:
          'The outbox must not import src/sources/ beyond the Reading types of src/sources/reading.ts: it stores what any source emits and must not depend on how a source reads.',
      },
    ),
  },
  {
    files: ['src/config/**/*.ts'],
    rules: boundary({
      regex: climbTo('(?:(?:sources|outbox|cloud|commands|health|cli|agent-config|update|status|service)(?:/|$)|(?:agent|pipeline|destination)\\.[jt]s$)'),
      message:
        'src/config/ is the floor (primitives, locating, writing, secrets) that every module builds its config slice on: it must not import src/sources/, outbox/, cloud/, commands/, health/, cli/, agent-config/, update/, status/, service/, agent.ts, pipeline.ts or destination.ts. The root schema and the loader that know every module live in src/agent-config/.',
    }),
  },
  {
    files: ['src/update/**/*.ts'],
    rules: boundary({
      regex: climbTo('(?:cloud|outbox|commands|sources|cli)(?:/|$)'),
      message:
        'src/update/ must not import src/cloud/, outbox/, commands/, sources/ or cli/: it downloads, verifies and installs binaries and keeps its state; the agent hands it a way to report outcomes (Destination.reportLate) and agent.update hands it who asked.',
    }),
  },
  { files: ['src/cli/**/*.ts'], rules: boundary(cliIntoAdapter) },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
