// The routing counters: one descriptor each, so stats(), the Prometheus
// metrics and the README's tables come from one list.

export interface RoutingStats {
  /** This server's node number. */
  node: number;
  /** 'none' without the cluster option; 'held' while the node number's lease is ours; 'lost' when another process took it. */
  lease: 'none' | 'held' | 'lost';
  /** Commands (send, sendMany, close, subscribe, unsubscribe) for other nodes' ids handed to Redis. */
  routedOut: number;
  /** Bytes published for other nodes: the messages carrying those commands, and topic publishes. */
  routedOutBytes: number;
  /** Commands for this node's ids that arrived from other nodes. */
  routedIn: number;
  /** Bytes received from other nodes: the messages carrying those commands, and topic publishes. */
  routedInBytes: number;
  /** publish() calls. */
  publishes: number;
  /** Payloads published by other nodes to topics this node serves, as received. */
  publishesIn: number;
  /** Topics with at least one subscriber on this node. */
  topics: number;
  /** (topic, connection) subscriptions held on this node. */
  topicSubscriptions: number;
  /** Commands for ids of a node that is down or that no node listens for; never thrown. */
  undeliverable: number;
  /** Routed commands and publishes dropped: over routeBufferBytes while Redis was slow or away, lost in flight when its connection broke, or arriving faster than the I/O workers took them. */
  dropped: number;
  /** Messages on Flamingo's channels that were malformed, truncated or named an id that is not this node's: counted and ignored. */
  invalid: number;
  /** Times a connection to Redis came back after being lost. */
  redisReconnects: number;
}

type Counter = Exclude<keyof RoutingStats, 'node' | 'lease'>;

interface RoutingStatDescriptor {
  readonly field: Counter;
  readonly metric: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
}

export const ROUTING_STATS: readonly RoutingStatDescriptor[] = [
  { field: 'routedOut', metric: 'routed_out_total', type: 'counter', help: "Commands for other nodes' ids handed to Redis." },
  { field: 'routedOutBytes', metric: 'routed_out_bytes_total', type: 'counter', help: 'Bytes published for other nodes: direct messages and topic publishes.' },
  { field: 'routedIn', metric: 'routed_in_total', type: 'counter', help: "Commands for this node's ids from other nodes." },
  { field: 'routedInBytes', metric: 'routed_in_bytes_total', type: 'counter', help: 'Bytes received from other nodes: direct messages and topic publishes.' },
  { field: 'publishes', metric: 'publishes_total', type: 'counter', help: 'publish() calls on this node.' },
  { field: 'publishesIn', metric: 'publishes_in_total', type: 'counter', help: 'Payloads published by other nodes to topics served here.' },
  { field: 'topics', metric: 'topics', type: 'gauge', help: 'Topics with a subscriber on this node.' },
  { field: 'topicSubscriptions', metric: 'topic_subscriptions', type: 'gauge', help: '(topic, connection) subscriptions held on this node.' },
  { field: 'undeliverable', metric: 'route_undeliverable_total', type: 'counter', help: 'Commands for ids of a node that is down or not listening.' },
  { field: 'dropped', metric: 'route_dropped_total', type: 'counter', help: 'Routed commands and publishes dropped (buffer full, lost in flight).' },
  { field: 'invalid', metric: 'route_invalid_total', type: 'counter', help: "Malformed or misaddressed messages on Flamingo's channels." },
  { field: 'redisReconnects', metric: 'redis_reconnects_total', type: 'counter', help: 'Times a Redis connection came back after being lost.' },
];

/** The stats().routing fields as the README's list: one line each, `name`: meaning. */
export function renderRoutingFields(): string {
  const lines = [
    "- `node`: this server's node number (the leased one with `node: 'auto'`)",
    "- `lease`: `'none'` without `cluster`; `'held'` while the node number's lease is this server's; `'lost'` when another process took it (the server serves on and retries)",
  ];
  for (const stat of ROUTING_STATS) lines.push(`- \`${stat.field}\` (${stat.type}): ${stat.help.replace(/\.$/, '')}`);
  return `${lines.join('\n')}\n`;
}

export function emptyRoutingStats(node: number): RoutingStats {
  return {
    node,
    lease: 'none',
    routedOut: 0,
    routedOutBytes: 0,
    routedIn: 0,
    routedInBytes: 0,
    publishes: 0,
    publishesIn: 0,
    topics: 0,
    topicSubscriptions: 0,
    undeliverable: 0,
    dropped: 0,
    invalid: 0,
    redisReconnects: 0,
  };
}
