// The commands the pub/sub server answers, in one table: each with Redis's
// arity, whether a RESP2 connection may run it while subscribed, and what
// it does. Requests are checked as Redis checks them, in Redis's order: an
// unknown command (or subcommand), then the argument count, then subscribed
// mode; each refusal is Redis's error, and the connection stays usable.
//
// Besides pub/sub, the table holds what clients send as they connect
// (HELLO, CLIENT SETNAME and SETINFO, SELECT, AUTH, INFO for ioredis's ready
// check, COMMAND DOCS for redis-cli's hints, CONFIG GET for redis-benchmark),
// answered as a Redis server without a password or persistence would
// answer them.

import type { Broker, Outcome, Session } from './broker.ts';
import { globMatch } from './glob.ts';
import { NOT_AN_INTEGER, Reply, notInSubscribedMode, unknownCommand, unknownSubcommand, wrongArity } from './replies.ts';

/** The Redis version whose replies this server gives (HELLO, INFO): 7, with 7.2's CLIENT SETINFO. */
export const REDIS_VERSION = '7.2.0';
/** SELECT accepts Redis's default 16 databases; pub/sub does not depend on the database. */
const DATABASES = 16;
const INT_MAX = 2 ** 31 - 1;

interface Command {
  /** Redis's arity: exactly n arguments, the name included; -n: at least n. */
  readonly arity: number;
  /** Allowed on a RESP2 connection with subscriptions. */
  readonly subscribed?: boolean;
  readonly run?: (broker: Broker, session: Session, args: Buffer[]) => Outcome;
  /** A container command (CLIENT, COMMAND): its subcommands, by lower-case name. */
  readonly subcommands?: ReadonlyMap<string, Command>;
}

const reply = (session: Session): Reply => new Reply(session.version);
const error = (session: Session, text: string): Reply => reply(session).error(text);

const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['subscribe', { arity: -2, subscribed: true, run: (broker, session, args) => broker.subscribe(session, args.slice(1)) }],
  ['unsubscribe', { arity: -1, subscribed: true, run: (broker, session, args) => broker.unsubscribe(session, args.slice(1)) }],
  ['psubscribe', { arity: -2, subscribed: true, run: (broker, session, args) => broker.psubscribe(session, args.slice(1)) }],
  ['punsubscribe', { arity: -1, subscribed: true, run: (broker, session, args) => broker.punsubscribe(session, args.slice(1)) }],
  ['publish', { arity: 3, run: (broker, session, [, channel, message]) => reply(session).integer(broker.publish(channel!, message!)) }],
  ['ping', { arity: -1, subscribed: true, run: (_, session, args) => ping(session, args) }],
  ['echo', { arity: 2, run: (_, session, [, message]) => reply(session).bulk(message!) }],
  [
    'quit',
    {
      arity: -1,
      subscribed: true,
      run: (broker, session) => {
        broker.quit(session);
        return reply(session).simple('OK');
      },
    },
  ],
  [
    'reset',
    {
      arity: 1,
      subscribed: true,
      run: (broker, session) => {
        broker.reset(session);
        return reply(session).simple('RESET');
      },
    },
  ],
  ['hello', { arity: -1, run: hello }],
  ['auth', { arity: -2, run: (_, session, args) => auth(session, args) }],
  ['select', { arity: 2, run: (_, session, [, index]) => select(session, index!) }],
  ['info', { arity: -1, run: info }],
  [
    'client',
    {
      arity: -2,
      subcommands: new Map<string, Command>([
        ['setname', { arity: 3, run: (_, session, [, , name]) => setName(session, name!) }],
        ['getname', { arity: 2, run: (_, session) => (session.name === undefined ? reply(session).null() : reply(session).bulk(session.name)) }],
        ['id', { arity: 2, run: (_, session) => reply(session).integer(session.id) }],
        ['setinfo', { arity: 4, run: (_, session, [, , attribute, value]) => setInfo(session, attribute!, value!) }],
      ]),
    },
  ],
  [
    'config',
    {
      arity: -2,
      subcommands: new Map<string, Command>([['get', { arity: -3, run: (_, session, args) => configGet(session, args.slice(2)) }]]),
    },
  ],
  [
    'command',
    {
      arity: -1,
      // What redis-cli asks for as it starts; no docs is an answer it accepts.
      run: (_, session) => reply(session).array(0),
      subcommands: new Map<string, Command>([['docs', { arity: -2, run: (_, session) => reply(session).map(0) }]]),
    },
  ],
]);

/**
 * The settings CONFIG GET reports, as a Redis without persistence would:
 * redis-benchmark asks for these two as it starts (and warns, but runs,
 * without them).
 */
const SETTINGS: ReadonlyArray<[string, string]> = [
  ['save', ''],
  ['appendonly', 'no'],
];

/** Checks a request as Redis does and runs its command. */
export function execute(broker: Broker, session: Session, args: Buffer[]): Outcome {
  const name = lowerCase(args[0]!);
  let command = COMMANDS.get(name);
  let fullName = name;
  if (command?.subcommands !== undefined && args.length > 1) {
    const subname = lowerCase(args[1]!);
    command = command.subcommands.get(subname);
    if (command === undefined) return error(session, unknownSubcommand(args));
    fullName = `${name}|${subname}`;
  }
  if (command === undefined) return error(session, unknownCommand(args));
  if (command.arity > 0 ? args.length !== command.arity : args.length < -command.arity) return error(session, wrongArity(fullName));
  if (session.restricted && command.subscribed !== true) return error(session, notInSubscribedMode(fullName));
  // A container run without a subcommand (COMMAND alone) that has no answer of its own was refused by its arity.
  return command.run!(broker, session, args);
}

/** ASCII letters lowered, as Redis's case-insensitive command lookup compares them. */
function lowerCase(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** An integer as Redis's string2ll() reads it, or undefined. */
function integer(bytes: Buffer): number | undefined {
  const text = bytes.toString('latin1');
  if (!/^(0|-?[1-9][0-9]{0,18})$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= -(2n ** 63n) && value < 2n ** 63n ? Number(value) : undefined;
}

function ping(session: Session, args: Buffer[]): Reply {
  if (args.length > 2) return error(session, wrongArity('ping'));
  // On a RESP2 connection with subscriptions, the reply has the shape of a message.
  if (session.restricted)
    return reply(session)
      .array(2)
      .bulk('pong')
      .bulk(args[1] ?? '');
  return args.length === 1 ? reply(session).simple('PONG') : reply(session).bulk(args[1]!);
}

/** HELLO [protover [AUTH username password] [SETNAME name]]: switches RESP version, and says who we are. */
function hello(broker: Broker, session: Session, args: Buffer[]): Reply {
  let version = session.version;
  let next = 1;
  if (args.length >= 2) {
    const asked = integer(args[1]!);
    if (asked === undefined) return error(session, 'Protocol version is not an integer or out of range');
    // What makes a RESP2-only client stay on RESP2; this server speaks both.
    if (asked < 2 || asked > 3) return error(session, '-NOPROTO unsupported protocol version');
    version = asked as 2 | 3;
    next = 2;
  }
  for (let j = next; j < args.length; j++) {
    const more = args.length - 1 - j;
    const option = lowerCase(args[j]!);
    if (option === 'auth' && more >= 2) {
      if (!authenticates(args[j + 1]!)) return error(session, '-WRONGPASS invalid username-password pair or user is disabled.');
      j += 2;
    } else if (option === 'setname' && more >= 1) {
      if (!printable(args[j + 1]!)) return error(session, BAD_NAME);
      nameClient(session, args[j + 1]!);
      j++;
    } else {
      return error(session, `Syntax error in HELLO option '${cText(args[j]!)}'`);
    }
  }
  broker.setVersion(session, version);
  const out = reply(session).map(7);
  out.bulk('server').bulk('redis').bulk('version').bulk(REDIS_VERSION).bulk('proto').integer(version);
  out.bulk('id').integer(session.id).bulk('mode').bulk('standalone').bulk('role').bulk('master');
  return out.bulk('modules').array(0);
}

/** Without a password, as a Redis whose default user has none: any password for `default`, no other user. */
function authenticates(username: Buffer): boolean {
  return username.toString('latin1') === 'default';
}

function auth(session: Session, args: Buffer[]): Reply {
  if (args.length > 3) return error(session, 'syntax error');
  if (args.length === 2) {
    return error(session, 'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  return authenticates(args[1]!) ? reply(session).simple('OK') : error(session, '-WRONGPASS invalid username-password pair or user is disabled.');
}

function select(session: Session, index: Buffer): Reply {
  const value = integer(index);
  if (value === undefined || value < -INT_MAX - 1 || value > INT_MAX) return error(session, NOT_AN_INTEGER);
  if (value < 0 || value >= DATABASES) return error(session, 'DB index is out of range');
  return reply(session).simple('OK');
}

/** Printable ASCII without spaces, or empty: what Redis accepts in a client's name and library info. */
function printable(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte < 0x21 || byte > 0x7e) return false;
  return true;
}

const BAD_NAME = 'Client names cannot contain spaces, newlines or special characters.';

function setName(session: Session, name: Buffer): Reply {
  if (!printable(name)) return error(session, BAD_NAME);
  nameClient(session, name);
  return reply(session).simple('OK');
}

/** An empty name removes the name. */
function nameClient(session: Session, name: Buffer): void {
  session.name = name.length === 0 ? undefined : Buffer.from(name);
}

function setInfo(session: Session, attribute: Buffer, value: Buffer): Reply {
  const name = lowerCase(attribute);
  if (name !== 'lib-name' && name !== 'lib-ver') return error(session, `Unrecognized option '${cText(attribute)}'`);
  if (!printable(value)) return error(session, `${cText(attribute)} cannot contain spaces, newlines or special characters.`);
  return reply(session).simple('OK');
}

/** CONFIG GET pattern...: each known setting a pattern matches, once. */
function configGet(session: Session, patterns: Buffer[]): Reply {
  const matched = SETTINGS.filter(([name]) => patterns.some((pattern) => globMatch(Buffer.from(lowerCase(pattern), 'latin1'), Buffer.from(name))));
  const out = reply(session).map(matched.length);
  for (const [name, value] of matched) out.bulk(name).bulk(value);
  return out;
}

/** Text as C's %s prints it: up to the first NUL. */
function cText(bytes: Buffer): string {
  const nul = bytes.indexOf(0);
  return bytes.toString('latin1', 0, nul === -1 ? bytes.length : nul);
}

function info(broker: Broker, session: Session): Reply {
  const server = broker.server;
  const sections = [
    [
      '# Server',
      `redis_version:${REDIS_VERSION}`,
      'redis_mode:standalone',
      `process_id:${process.pid}`,
      `tcp_port:${server.port}`,
      `flamingo_node:${server.node}`,
    ],
    ['# Clients', `connected_clients:${server.stats().connections}`],
    // ioredis waits for `loading:0` before it calls a connection ready.
    ['# Persistence', 'loading:0'],
    ['# Stats', `pubsub_channels:${broker.channelCount}`, `pubsub_patterns:${broker.patternCount}`],
  ];
  return reply(session).verbatim(sections.map((lines) => `${lines.join('\r\n')}\r\n`).join('\r\n'));
}
