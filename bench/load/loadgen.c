// Flamingo's load generator: one single-threaded epoll process that opens up
// to ~19,000 client connections and drives them in one of seven modes, over
// plain TCP, TLS (--tls), WebSocket (--proto ws) or WebSocket over TLS.
//
// In every mode each new connection first echoes one message (a 16-byte
// ping in idle, fanout and handshake mode; in ingest mode the marker and the
// server's totals, see below), and at most --max-pending connections are
// unconfirmed at a time: connects are paced by what the server really
// accepts and serves, never overflowing its listen backlog (a dropped SYN
// costs a 1 s retransmit), and once "connected" is reported the server has
// registered every connection.
//
//   idle    connect N, hold until "verify", then ping each one again. Any
//           byte or hang-up during the hold is an error (a WebSocket ping
//           from the server is answered with a pong, and is no error).
//   echo    N connections, one message of --size bytes in flight on each:
//   bulk    send, wait for the whole echo, send the next. Runs from "start"
//           until the measure window ends, then waits for the messages still
//           in flight. Completions inside the window are counted and their
//           round-trip times go into a log-linear histogram.
//   fanout  after its ping a client only reads: every broadcast is --size
//           bytes carrying its round number, rounds 1, 2, ... in order. With
//           --trigger this process also holds a control connection and writes
//           an 8-byte trigger on it when told "trigger R"; each process
//           reports when the last of its connections has round R.
//   rate    offered load (open loop): this process sends --rate messages/s
//           in total, message k due at t0 + k/rate on connection k mod N
//           (each connection one message every N/rate s, the connections
//           staggered evenly), whether or not the earlier echoes are back:
//           up to --max-outstanding messages in flight per connection, the
//           echoes verified in order. The round trip is measured from the
//           message's SCHEDULED send time, so a stall of the server (or of
//           this process) shows in the latency instead of slowing the
//           schedule down (no coordinated omission). Among the messages due
//           inside the window it counts those whose send started more than
//           --late-us after their due time (late) and those not sent at all
//           because the connection already had --max-outstanding in flight
//           (missed); completions inside the window give the achieved rate;
//           the latency of every message due inside the window is kept,
//           whether it completed during the run or the drain after it.
//   ingest  one-way streaming: each connection writes --write-bytes at a time
//           (whole units of --size bytes; with --lines each unit is a line:
//           size-1 bytes and '\n') as fast as the socket accepts, from
//           "start" until the window ends. The server replies nothing while
//           data flows. To check that it saw every byte, a connection begins
//           (when connecting) and ends with a marker: the byte 0xFF, which the
//           data never holds (with --lines the line "\xFF\n"); the server
//           answers a marker with its totals for that connection (24 bytes:
//           "SUMS", lines, bytes low and high 32 bits, and a position-weighted
//           checksum a, s of every byte before the marker: see ingest_add and
//           servers/ingest.ts), which must equal what this process sent.
//           --sndbuf caps each socket's send buffer, so that 10,000 streams
//           do not fill the kernel's TCP memory with gigabytes in flight.
//   handshake  new connections as fast as the server takes them: from
//           "start" each of the N connections, over and over, closes (a
//           reset), connects again, completes its TLS handshake and its
//           WebSocket upgrade (with --tls, --proto ws) and echoes one 16-byte
//           ping, which proves the server finished the handshake too. A cycle
//           that completes inside the window counts; its time from connect()
//           to the echo goes into the histogram.
//
// Every byte is verified. An echo message is a function of (connection,
// sequence): bytes 0-3 the connection's global id, 4-7 the sequence, the
// rest a slice of a fixed pseudo-random pool chosen by a hash of both, so a
// misrouted, reordered, duplicated or corrupted echo cannot match. A
// broadcast is a function of its round (see fanout_payload, mirrored by
// bench/load/servers/protocol.ts).
//
// Transports. --tls: OpenSSL over each socket, non-blocking, in the same
// epoll loop (tls-client.h: no certificate check, no session resumption).
// --proto ws (idle, echo, bulk, rate, handshake): RFC 6455 over each
// connection (websocket-client.h): an HTTP/1.1 upgrade with a random key, the
// 101 and its Sec-WebSocket-Accept checked; then every message is one masked
// binary frame (a fresh random mask per frame), and every echo must come back
// as one unmasked binary frame of the message's length, whose payload is
// verified as above. Frame headers are parsed across read boundaries; pings
// are answered with pongs between frames; a close frame loses the connection.
//
// Connection options, sockets (source addresses, resets), the event loop and
// the latency histogram are bench/common/epoll-client.h, shared with
// bench/cluster/subgen.c.
//
// Protocol with the orchestrator (bench/load/run.ts): commands on stdin, one
// per line; events on stdout, one JSON object per line, each carrying the
// process CPU seconds so far; the last line is {"event":"result",...}.
//   stdin:  start <window_start_ns> <window_end_ns>   (echo, bulk, rate, ingest, handshake)
//           verify                                     (idle)
//           trigger <round>                            (fanout, --trigger)
//           finish <rounds>                            (fanout)
//   stdout: connected, triggered, round, result
// All times are CLOCK_MONOTONIC nanoseconds, which are system-wide, so they
// compare across processes (Node's process.hrtime.bigint() reads the same
// clock).
//
// Build: cc -O2 -Wall -o bench/load/.build/loadgen bench/load/loadgen.c -lssl -lcrypto

#include "../common/epoll-client.h"

#include <sys/random.h>

#include "tls-client.h"
#include "websocket-client.h"

#define MAX_SIZE (256 * 1024)
#define POOL_BYTES (1u << 20)
#define MAX_ROUNDS 10000
#define ECHO_HEADER 8
#define PING_BYTES 16
/* Byte patterns shared with bench/load/servers/protocol.ts. */
#define FANOUT_MAGIC 0x474d4c46u  /* "FLMG" little-endian */
#define TRIGGER_MAGIC 0x47495254u /* "TRIG" little-endian */
#define TRIGGER_BYTES 8
/* Ingest: the end-of-stream marker byte (never in the data) and the server's reply, "SUMS" little-endian first. */
#define INGEST_MARKER 0xffu
#define INGEST_MAGIC 0x534d5553u
#define INGEST_REPLY_BYTES 24
#define MAX_OUTSTANDING 1024
/* --proto ws: the most the head of the server's upgrade response may take. */
#define UPGRADE_RESPONSE_BYTES 1024
#define TLS_ERROR_TEXT 120

/* The order is the "mode" number in the result line (bench/load/loadgen.ts). */
enum mode { MODE_IDLE, MODE_ECHO, MODE_BULK, MODE_FANOUT, MODE_RATE, MODE_INGEST, MODE_HANDSHAKE };
static const char *const mode_names[] = {"idle", "echo", "bulk", "fanout", "rate", "ingest", "handshake", NULL};
enum proto { PROTO_RAW, PROTO_WS };
static const char *const proto_names[] = {"raw", "ws", NULL};
/* C_SETUP: connected; the TLS handshake or the WebSocket upgrade is not done yet. */
enum conn_state { C_UNSTARTED, C_CONNECTING, C_SETUP, C_OPEN, C_CLOSED };
enum phase { P_CONNECT, P_HOLD, P_PING, P_READY, P_RUN, P_DRAIN, P_FANOUT, P_DONE };
static const char *const phase_names[] = {"connect", "hold", "ping", "ready", "run", "drain", "fanout", "done"};

/* --proto ws, while the upgrade is in progress: the accept value the key asks for, and the response so far. */
struct ws_setup {
  char accept[WS_ACCEPT_TEXT];
  uint32_t len;
  char response[UPGRADE_RESPONSE_BYTES];
};

/* --proto ws, from the first control frame the server sends: its payload as it arrives, and the pong to write. */
struct ws_control {
  uint8_t payload[WS_CONTROL_MAX];
  uint8_t len;
  uint8_t pong[WS_CLIENT_HEADER_MAX + WS_CONTROL_MAX];
  uint32_t pong_len, pong_off;
  uint8_t pong_started; /* handed to the transport, not all out: it cannot be replaced any more (as tx_started) */
};

struct conn {
  int fd;
  uint8_t state;
  uint8_t in_flight;      /* echo: a message is out and not fully back */
  uint8_t want_out;       /* a write (or the TLS handshake) waits for the socket to take more */
  uint8_t read_wants_out; /* --tls: a read waits for the socket to be writable */
  uint8_t out_armed;      /* EPOLLOUT is armed: want_out or read_wants_out */
  uint32_t seq;           /* echo: sequence of the message in flight */
  uint32_t tx_off;        /* bytes of it written (with --proto ws: of its frame) */
  uint32_t tx_len;        /* its length on the wire */
  /* The message went to the transport and not all of it is out: nothing else (a pong) may be written before the
     rest, which must be the same bytes (a TLS write that would block is retried with the same bytes). */
  uint8_t tx_started;
  uint8_t tx_counted; /* rate: its send's lateness is counted (when its first bytes went out) */
  uint32_t rx_off;        /* bytes of it (or of the current broadcast) verified */
  uint32_t round;         /* fanout: round expected next */
  uint64_t t_sent;        /* echo: when the message in flight was sent */
  uint64_t t_start;       /* when the connection began to connect */
  uint8_t *tx;            /* echo: the message in flight; rate: the message being written */
  uint8_t *frame;         /* --proto ws: tx as one masked frame, as written */
  /* rate: sequences scheduled (next to schedule), written (next to write), echoed (next expected). */
  uint32_t sched, txq, rxq;
  /* ingest: what this connection has committed to the stream, and the write in progress. */
  uint8_t ing_state; /* ING_* */
  uint32_t ing_lines, ing_a, ing_s;
  uint64_t ing_bytes;
  uint32_t w_pos, w_len, w_off; /* pool offset (or the marker), length, bytes written */
  /* Transport. */
  SSL *ssl;                   /* --tls */
  struct ws_setup *setup;     /* --proto ws, until the upgrade is done */
  struct ws_control *control; /* --proto ws */
  uint8_t ws_head[WS_CLIENT_HEADER_MAX]; /* the header of the server frame being read, as far as it came */
  uint8_t ws_head_len;
  uint8_t ws_opcode; /* of the frame whose payload is being read */
  uint32_t ws_left;  /* payload bytes of that frame still to come; 0: a header is next */
};

enum ingest_state { ING_STREAM, ING_MARKER, ING_REPLY, ING_DONE };

/* Options (the connection options are in epoll-client.h). */
static int mode = -1; /* enum mode */
static int proto;     /* enum proto */
static int use_tls;
static uint32_t msg_size;   /* echo message (idle, fanout, handshake: the ping) */
static uint32_t bcast_size; /* fanout: one broadcast */
static int has_trigger;
static double ping_timeout_s;
static double rate_per_s; /* rate: messages/s over all of this process's connections */
static uint32_t max_outstanding;
static double late_us, tick_us;
static int ingest_lines;   /* ingest: units are lines ending in '\n' */
static uint32_t write_bytes; /* ingest: bytes per send (whole units) */
static int sndbuf_bytes;   /* SO_SNDBUF of each connection (0: the kernel's autotuning) */
static int nice_value;     /* --nice: this process's scheduling priority (negative: ahead of the servers) */

static const struct option_spec options[] = {
    {"--mode", OPT_CHOICE, &mode, NULL, "what the connections do: see the top of loadgen.c (required)", mode_names},
    {"--proto", OPT_CHOICE, &proto, "raw", "raw: the bytes as they are; ws: WebSocket, one binary frame a message", proto_names},
    {"--tls", OPT_FLAG, &use_tls, NULL, "TLS on every connection", NULL},
    {"--size", OPT_U32, &msg_size, NULL, "bytes of a message; fanout: of a broadcast [64]; ingest: of a unit", NULL},
    {"--trigger", OPT_FLAG, &has_trigger, NULL, "fanout: also hold the control connection that triggers rounds", NULL},
    {"--ping-timeout", OPT_DOUBLE, &ping_timeout_s, "30", "idle: seconds for every ping after the hold", NULL},
    {"--rate", OPT_DOUBLE, &rate_per_s, NULL, "rate: messages/s over this process's connections (required)", NULL},
    {"--max-outstanding", OPT_U32, &max_outstanding, "64", "rate: messages in flight per connection, at most", NULL},
    {"--late-us", OPT_DOUBLE, &late_us, "1000", "rate: a send that starts this late counts as late", NULL},
    {"--tick-us", OPT_DOUBLE, &tick_us, "50", "rate: the shortest wait between schedule checks", NULL},
    {"--nice", OPT_INT, &nice_value, "0", "this process's scheduling priority (negative needs privilege)", NULL},
    {"--lines", OPT_FLAG, &ingest_lines, NULL, "ingest: units are lines ending in '\\n'", NULL},
    {"--write-bytes", OPT_U32, &write_bytes, NULL, "ingest: bytes per send, whole units [4096 or --size]", NULL},
    {"--sndbuf", OPT_INT, &sndbuf_bytes, "0", "SO_SNDBUF of each connection (0: the kernel's autotuning)", NULL},
    CONNECTION_OPTIONS("4", "90", "10", "600"),
};
#define OPTION_COUNT (sizeof options / sizeof options[0])

/* State. */
static struct conn *conns;
static uint32_t total_conns; /* nconns, plus the control connection with --trigger */
static uint32_t ctrl_idx = UINT32_MAX;
static enum phase phase = P_CONNECT;
static uint8_t *pool;
static uint8_t *rbuf;
static SSL_CTX *tls_ctx;                  /* --tls */
static char host_text[INET_ADDRSTRLEN];   /* --proto ws: the Host header */
static uint64_t random_state;             /* WebSocket keys and masks */
static uint32_t next_to_connect, connecting, connected, connect_failed;
static uint64_t t_begin, t_connected, connect_deadline, phase_deadline;
static uint64_t window_start, window_end;
static double cpu_window_start = -1, cpu_window_end = -1;
static uint32_t in_flight, open_conns;
static uint64_t messages, window_bytes, messages_total, bytes_rx_total, pongs;
static struct latency window_latency;
static uint64_t verify_errors, conn_errors;
static char first_verify_error[ERROR_TEXT], first_conn_error[ERROR_TEXT];
static uint32_t rounds_done[MAX_ROUNDS];
static uint64_t round_first[MAX_ROUNDS], round_last[MAX_ROUNDS];
/* rate */
static uint64_t *due_ring; /* per connection, max_outstanding due times, by sequence */
static uint64_t sched_t0, sched_k, sched_end;
static double period_ns;
static uint64_t scheduled_window, late_sends, missed_sends, max_lag_ns;
/* ingest: prefix sums over the pool, so any slice's checksum is O(1) */
static uint32_t *pre_a, *pre_s;
static uint64_t ingest_bytes_total, ingest_lines_total, verified_conns;

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A connection's id across all load generator processes. */
static uint32_t global_id(uint32_t idx) { return proc_index << 20 | idx; }

/* Message `seq` of connection `idx`. */
static void fill_message(uint8_t *out, uint32_t idx, uint32_t seq) {
  uint32_t gid = global_id(idx);
  put_u32(out, gid);
  put_u32(out + 4, seq);
  uint64_t at = splitmix64((uint64_t)gid << 32 | seq) % (POOL_BYTES - msg_size);
  memcpy(out + ECHO_HEADER, pool + at, msg_size - ECHO_HEADER);
}

/* The broadcast of one round: mirrored by fanoutPayload() in servers/protocol.ts. */
static void fanout_payload(uint32_t round, uint8_t *out) {
  put_u32(out, round);
  put_u32(out + 4, FANOUT_MAGIC);
  for (uint32_t i = 8; i < bcast_size; i++) out[i] = (uint8_t)(round * 131u + i * 29u + (round >> 8));
}

static void random_bytes(uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = splitmix64(random_state++);
    memcpy(out + i, &r, n - i < 8 ? n - i : 8);
  }
}

/* Arms EPOLLOUT while a write or a read waits for the socket to be writable, and only then. */
static void set_want_out(struct conn *c, uint32_t idx, int writer_waits) {
  c->want_out = (uint8_t)writer_waits;
  uint8_t armed = c->want_out || c->read_wants_out;
  if (armed != c->out_armed) watch(c->fd, idx, armed ? EPOLLIN | EPOLLOUT | EPOLLRDHUP : EPOLLIN | EPOLLRDHUP);
  c->out_armed = armed;
}

/* Closes with a reset (SO_LINGER 0): no TIME_WAIT anywhere. */
static void close_conn(struct conn *c) {
  if (c->state == C_CLOSED || c->state == C_UNSTARTED) return;
  if (c->ssl != NULL) SSL_free(c->ssl); /* no close_notify: the reset says it */
  c->ssl = NULL;
  free(c->setup);
  c->setup = NULL;
  free(c->control);
  c->control = NULL;
  c->ws_head_len = 0;
  c->ws_left = 0;
  c->tx_started = c->tx_counted = 0;
  close_with_reset(c->fd);
  if (c->state == C_CONNECTING || c->state == C_SETUP) connecting--;
  if (c->state == C_OPEN) open_conns--;
  if (c->in_flight) {
    c->in_flight = 0;
    in_flight--;
  }
  if (mode == MODE_RATE && c->sched != c->rxq) {
    in_flight -= c->sched - c->rxq;
    c->sched = c->txq = c->rxq;
  }
  c->state = C_CLOSED;
}

static void reset_all(void) {
  for (uint32_t i = 0; conns != NULL && i < total_conns; i++) close_conn(&conns[i]);
}

static void conn_lost_because(struct conn *c, uint32_t idx, const char *what, const char *why) {
  conn_errors++;
  note(first_conn_error, "connection %u (global %u, %s phase): %s%s%s", idx, global_id(idx), phase_names[phase], what, why ? ": " : "",
       why ? why : "");
  if (c->state == C_CONNECTING || c->state == C_SETUP) connect_failed++;
  close_conn(c);
}

static void conn_lost(struct conn *c, uint32_t idx, const char *what, int err) { conn_lost_because(c, idx, what, err ? strerror(err) : NULL); }

static void verify_failed(struct conn *c, uint32_t idx, const char *what, uint32_t detail) {
  verify_errors++;
  note(first_verify_error, "connection %u (global %u) seq/round %u at byte %u: %s (%u)", idx, global_id(idx),
       mode == MODE_FANOUT ? c->round : mode == MODE_RATE && phase >= P_RUN ? c->rxq : c->seq, c->rx_off, what, detail);
  close_conn(c);
}

static void start_connect(uint32_t idx) {
  struct conn *c = &conns[idx];
  int err;
  c->fd = open_connection(idx, sndbuf_bytes, &err);
  c->state = C_CONNECTING;
  c->want_out = c->read_wants_out = 0;
  c->out_armed = 1; /* open_connection watches for EPOLLOUT: the connect's outcome */
  c->t_start = mono_ns();
  connecting++;
  if (err != 0) conn_lost(c, idx, "connect", err);
}

/* ---- transport: the bytes of a connection, through TLS or not ---- */

/* What the server sent, in the mode's terms (with --proto ws: a frame's payload). */
static void payload_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n);
static void on_readable(struct conn *c, uint32_t idx);
/* Connected, with the TLS handshake and the WebSocket upgrade (if any) done: the connection's first message. */
static void transport_open(struct conn *c, uint32_t idx);

/* Writes bytes [*off, len): 1 when all are out, 0 when the socket is full (EPOLLOUT armed), -1 when the connection was lost. */
static int transport_write(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t len, uint32_t *off) {
  int done = 1;
  if (c->ssl == NULL) {
    done = send_some(c->fd, p, len, off);
    if (done < 0) {
      conn_lost(c, idx, "send", -done);
      return -1;
    }
  } else {
    while (*off < len) {
      int w = SSL_write(c->ssl, p + *off, (int)(len - *off));
      if (w > 0) {
        *off += (uint32_t)w;
        continue;
      }
      char why[TLS_ERROR_TEXT] = "";
      enum tls_outcome o = tls_outcome(c->ssl, w, why, sizeof why);
      if (o == TLS_WANT_WRITE || o == TLS_WANT_READ) {
        done = 0;
        break;
      }
      conn_lost_because(c, idx, o == TLS_EOF ? "closed by the server (EOF) during a write" : "TLS write", o == TLS_EOF ? NULL : why);
      return -1;
    }
  }
  set_want_out(c, idx, !done);
  return done;
}

/* Reads what the transport has into rbuf: the byte count, 0 when there is nothing now, -1 when the connection was lost. */
static ssize_t transport_read(struct conn *c, uint32_t idx) {
  if (c->ssl == NULL) {
    ssize_t n = recv(c->fd, rbuf, READ_BYTES, 0);
    if (n > 0) return n;
    if (n == 0) conn_lost(c, idx, "closed by the server (EOF)", 0);
    else if (errno == EAGAIN || errno == EINTR) return 0;
    else conn_lost(c, idx, "recv", errno);
    return -1;
  }
  int n = SSL_read(c->ssl, rbuf, READ_BYTES);
  if (c->read_wants_out) {
    c->read_wants_out = 0;
    set_want_out(c, idx, c->want_out);
  }
  if (n > 0) return n;
  char why[TLS_ERROR_TEXT] = "";
  switch (tls_outcome(c->ssl, n, why, sizeof why)) {
  case TLS_WANT_READ:
    return 0;
  case TLS_WANT_WRITE:
    c->read_wants_out = 1;
    set_want_out(c, idx, c->want_out);
    return 0;
  case TLS_EOF:
    conn_lost(c, idx, "closed by the server (EOF)", 0);
    return -1;
  default:
    conn_lost_because(c, idx, "TLS read", why);
    return -1;
  }
}

/* ---- WebSocket framing (--proto ws) ---- */

/* Makes the message in c->tx ready to write: as it is, or as one masked binary frame. Returns its length on the wire. */
static uint32_t frame_message(struct conn *c) {
  if (proto != PROTO_WS) return msg_size;
  uint8_t mask[4];
  random_bytes(mask, 4);
  return ws_client_frame(c->frame, WS_BINARY, c->tx, msg_size, mask);
}

static const uint8_t *wire_message(const struct conn *c) { return proto == PROTO_WS ? c->frame : c->tx; }

/* Writes a pending pong unless a message is half written (then it goes right after it). 1 when no pong is left to write. */
static int pong_flush(struct conn *c, uint32_t idx) {
  struct ws_control *k = c->control;
  if (k == NULL || k->pong_len == 0) return 1;
  if (c->tx_started) return 0;
  k->pong_started = 1;
  int done = transport_write(c, idx, k->pong, k->pong_len, &k->pong_off);
  if (done == 1) k->pong_len = k->pong_off = k->pong_started = 0;
  return done == 1;
}

/* A whole control frame from the server: a ping is answered (its pong replaces one still waiting, not one on its way),
   a close loses the connection. */
static void ws_control_done(struct conn *c, uint32_t idx) {
  struct ws_control *k = c->control;
  if (c->ws_opcode == WS_PING && !k->pong_started) {
    uint8_t mask[4];
    random_bytes(mask, 4);
    k->pong_len = ws_client_frame(k->pong, WS_PONG, k->payload, k->len, mask);
    pongs++;
    pong_flush(c, idx);
  } else if (c->ws_opcode == WS_CLOSE) {
    char what[80];
    snprintf(what, sizeof what, "the server sent a WebSocket close frame (code %u)", k->len >= 2 ? (unsigned)k->payload[0] << 8 | k->payload[1] : 0);
    conn_lost(c, idx, what, 0);
  }
}

/* A server frame's header is complete: check it and get ready for its payload. */
static void ws_frame_start(struct conn *c, uint32_t idx) {
  const uint8_t *h = c->ws_head;
  uint8_t opcode = h[0] & 0x0f;
  uint64_t len = ws_payload_length(h);
  uint32_t shown = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
  int control = opcode == WS_PING || opcode == WS_PONG || opcode == WS_CLOSE;
  c->ws_head_len = 0;
  if (h[1] & 0x80) verify_failed(c, idx, "the server masked a frame (opcode)", opcode);
  else if (h[0] & 0x70) verify_failed(c, idx, "a frame with RSV bits set, but no extension was agreed (first byte)", h[0]);
  else if (!(h[0] & 0x80)) verify_failed(c, idx, "a fragment: every echo must be one whole frame (opcode)", opcode);
  else if (opcode == WS_TEXT) verify_failed(c, idx, "a text frame: every message sent was binary (length)", shown);
  else if (opcode == WS_BINARY && len != msg_size) verify_failed(c, idx, "a binary frame whose length is not the message's", shown);
  else if (opcode != WS_BINARY && !control) verify_failed(c, idx, "a frame with an unknown or continuation opcode", opcode);
  else if (control && len > WS_CONTROL_MAX) verify_failed(c, idx, "a control frame over 125 bytes", shown);
  if (c->state != C_OPEN) return;
  c->ws_opcode = opcode;
  c->ws_left = (uint32_t)len;
  if (!control) return;
  if (c->control == NULL && (c->control = calloc(1, sizeof *c->control)) == NULL) die("out of memory");
  c->control->len = 0;
  if (len == 0) ws_control_done(c, idx);
}

/* The head of the upgrade response as it arrives; once whole and valid the connection is open. Returns the bytes of p it took. */
static uint32_t ws_response_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  struct ws_setup *s = c->setup;
  uint32_t before = s->len;
  uint32_t take = n < UPGRADE_RESPONSE_BYTES - before ? n : UPGRADE_RESPONSE_BYTES - before;
  memcpy(s->response + before, p, take);
  s->len += take;
  uint32_t from = before >= 3 ? before - 3 : 0;
  const char *blank = memmem(s->response + from, s->len - from, "\r\n\r\n", 4);
  if (blank == NULL) {
    if (s->len == UPGRADE_RESPONSE_BYTES) verify_failed(c, idx, "no end to the upgrade response's head within its first bytes", s->len);
    return n;
  }
  uint32_t head = (uint32_t)(blank - s->response) + 4;
  const char *wrong = ws_check_response(s->response, head - 4, s->accept);
  if (wrong != NULL) {
    verify_errors++;
    const char *eol = memchr(s->response, '\r', head);
    note(first_verify_error, "connection %u (global %u): WebSocket upgrade refused: %s (status line: %.*s)", idx, global_id(idx), wrong,
         (int)(eol - s->response < 80 ? eol - s->response : 80), s->response);
    close_conn(c);
    return n;
  }
  free(c->setup);
  c->setup = NULL;
  transport_open(c, idx);
  return head - before;
}

/* Bytes from a WebSocket connection: the upgrade response, then server frames, however the reads cut them. */
static void ws_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  if (c->setup != NULL) {
    uint32_t used = ws_response_bytes(c, idx, p, n);
    p += used;
    n -= used;
  }
  while (n > 0 && c->state == C_OPEN) {
    if (c->ws_left == 0) {
      uint32_t need = c->ws_head_len < 2 ? 2 : ws_header_length(c->ws_head);
      uint32_t take = need - c->ws_head_len < n ? need - c->ws_head_len : n;
      memcpy(c->ws_head + c->ws_head_len, p, take);
      c->ws_head_len += (uint8_t)take;
      p += take;
      n -= take;
      if (c->ws_head_len >= 2 && c->ws_head_len == ws_header_length(c->ws_head)) ws_frame_start(c, idx);
      continue;
    }
    uint32_t take = c->ws_left < n ? c->ws_left : n;
    /* Before handing the payload on: its consumer may close the connection, or (handshake mode) start it again. */
    c->ws_left -= take;
    if (c->ws_opcode == WS_BINARY) {
      payload_bytes(c, idx, p, take);
    } else {
      memcpy(c->control->payload + c->control->len, p, take);
      c->control->len += (uint8_t)take;
      if (c->ws_left == 0) ws_control_done(c, idx);
    }
    p += take;
    n -= take;
  }
}

/* --proto ws: the upgrade request, with a fresh random key. On a new connection it always fits in the socket buffer. */
static void ws_send_upgrade(struct conn *c, uint32_t idx) {
  uint8_t random[16];
  char key[WS_KEY_TEXT], request[WS_REQUEST_BYTES];
  random_bytes(random, sizeof random);
  ws_key(random, key);
  if ((c->setup = malloc(sizeof *c->setup)) == NULL) die("out of memory");
  c->setup->len = 0;
  ws_accept(key, c->setup->accept);
  uint32_t len = (uint32_t)ws_upgrade_request(request, host_text, server_port, key), off = 0;
  if (transport_write(c, idx, (const uint8_t *)request, len, &off) == 0) conn_lost(c, idx, "the upgrade request did not fit in the socket buffer", 0);
}

/* ---- connection setup ---- */

/* The TLS handshake as far as it goes, then the upgrade; called again on every event until the connection is open. */
static void setup_step(struct conn *c, uint32_t idx) {
  if (c->ssl != NULL && !SSL_is_init_finished(c->ssl)) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      char why[TLS_ERROR_TEXT] = "";
      enum tls_outcome o = tls_outcome(c->ssl, r, why, sizeof why);
      if (o == TLS_WANT_READ || o == TLS_WANT_WRITE) set_want_out(c, idx, o == TLS_WANT_WRITE);
      else conn_lost_because(c, idx, "TLS handshake", o == TLS_EOF ? "the server closed the connection" : why);
      return;
    }
    set_want_out(c, idx, 0);
    if (proto == PROTO_WS) ws_send_upgrade(c, idx);
    else transport_open(c, idx);
    return;
  }
  on_readable(c, idx); /* the upgrade response, for ws_bytes */
}

static void on_connect_ready(struct conn *c, uint32_t idx) {
  int err = connect_error(c->fd);
  if (err != 0) {
    conn_lost(c, idx, "connect", err);
    return;
  }
  set_want_out(c, idx, 0);
  if (!use_tls && proto == PROTO_RAW) {
    transport_open(c, idx);
    return;
  }
  c->state = C_SETUP;
  if (!use_tls) {
    ws_send_upgrade(c, idx);
    return;
  }
  if ((c->ssl = SSL_new(tls_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) die("SSL_new: out of memory");
  SSL_set_connect_state(c->ssl);
  setup_step(c, idx);
}

/* ---- echo, bulk, idle, handshake: one message in flight ---- */

static void try_write(struct conn *c, uint32_t idx) {
  if (!c->tx_started && !pong_flush(c, idx)) return;
  c->tx_started = 1;
  if (transport_write(c, idx, wire_message(c), c->tx_len, &c->tx_off) != 1) return;
  c->tx_started = 0;
  pong_flush(c, idx);
}

static void send_message(struct conn *c, uint32_t idx) {
  fill_message(c->tx, idx, c->seq);
  c->tx_len = frame_message(c);
  c->tx_off = 0;
  c->rx_off = 0;
  c->in_flight = 1;
  in_flight++;
  c->t_sent = mono_ns();
  try_write(c, idx);
}

/* Handshake mode: the connection starts over. */
static void reconnect(struct conn *c, uint32_t idx) {
  close_conn(c);
  c->seq++;
  start_connect(idx);
}

static void message_done(struct conn *c, uint32_t idx) {
  uint64_t now = mono_ns();
  c->in_flight = 0;
  c->rx_off = 0; /* fanout: broadcasts are verified from their first byte on */
  in_flight--;
  messages_total++;
  if (phase != P_RUN && phase != P_DRAIN) return;
  if (now >= window_start && now < window_end) {
    latency_add(&window_latency, now - (mode == MODE_HANDSHAKE ? c->t_start : c->t_sent));
    messages++;
    window_bytes += msg_size;
  }
  if (phase == P_RUN && now < window_end) {
    if (mode == MODE_HANDSHAKE) {
      reconnect(c, idx);
    } else {
      c->seq++;
      send_message(c, idx);
    }
  }
}

static void echo_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  if (!c->in_flight || c->rx_off + n > msg_size) {
    verify_failed(c, idx, "bytes beyond the message in flight", n);
    return;
  }
  if (memcmp(p, c->tx + c->rx_off, n) != 0) {
    uint32_t at = 0;
    while (p[at] == c->tx[c->rx_off + at]) at++;
    c->rx_off += at;
    verify_failed(c, idx, "echoed byte differs from the one sent", p[at]);
    return;
  }
  c->rx_off += n;
  if (c->rx_off == msg_size) message_done(c, idx);
}

/* ---- rate: offered load ---- */

/* Rate: how late the send of message txq started (its first bytes went out), counted once. */
static void rate_count_lag(struct conn *c, uint32_t idx, uint64_t now) {
  uint64_t due = due_ring[(size_t)idx * max_outstanding + c->txq % max_outstanding];
  uint64_t lag = now > due ? now - due : 0;
  c->tx_counted = 1;
  if (due < window_start || due >= window_end) return;
  if (lag > max_lag_ns) max_lag_ns = lag;
  if ((double)lag > late_us * 1e3) late_sends++;
}

/* Writes the connection's scheduled messages, in order, until done or the socket is full. */
static void rate_try_write(struct conn *c, uint32_t idx) {
  while (c->txq != c->sched) {
    if (!c->tx_started) {
      if (!pong_flush(c, idx)) return;
      fill_message(c->tx, idx, c->txq);
      c->tx_len = frame_message(c);
      c->tx_off = 0;
      c->tx_started = 1;
      c->tx_counted = 0;
    }
    uint64_t now = mono_ns();
    int done = transport_write(c, idx, wire_message(c), c->tx_len, &c->tx_off);
    if (done < 0) return;
    if (!c->tx_counted && (done == 1 || c->tx_off > 0)) rate_count_lag(c, idx, now);
    if (done == 0) return;
    c->tx_started = 0;
    c->tx_off = 0;
    c->txq++;
  }
  pong_flush(c, idx);
}

static uint64_t due_of(uint64_t k) { return sched_t0 + (uint64_t)((double)k * period_ns); }

/* Schedules (and starts writing) every message due by `now`; stops at the end of the window. */
static void rate_schedule(uint64_t now) {
  for (;;) {
    uint64_t due = due_of(sched_k);
    if (due > now || due >= sched_end) return;
    uint32_t idx = (uint32_t)(sched_k % nconns);
    sched_k++;
    struct conn *c = &conns[idx];
    if (c->state != C_OPEN) continue;
    if (due >= window_start) scheduled_window++;
    if (c->sched - c->rxq >= max_outstanding) {
      if (due >= window_start) missed_sends++;
      continue;
    }
    due_ring[(size_t)idx * max_outstanding + c->sched % max_outstanding] = due;
    c->sched++;
    in_flight++;
    if (!c->want_out) rate_try_write(c, idx);
  }
}

/* Echoed bytes in rate mode: any number of messages, in order, none beyond what was written. */
static void rate_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  uint32_t gid = global_id(idx);
  while (n > 0) {
    /* Of the message being written, a WebSocket server can echo nothing before its whole frame is in. */
    uint32_t written = c->rxq != c->txq ? msg_size : proto == PROTO_WS ? 0 : c->tx_off;
    if (c->rxq == c->sched || c->rx_off >= written) {
      verify_failed(c, idx, "bytes beyond the messages sent", n);
      return;
    }
    uint32_t take = written - c->rx_off < n ? written - c->rx_off : n;
    uint32_t seq = c->rxq;
    for (uint32_t i = 0; i < take; i++) {
      uint32_t off = c->rx_off + i;
      uint8_t want;
      if (off < 4) want = (uint8_t)(gid >> (8 * off));
      else if (off < ECHO_HEADER) want = (uint8_t)(seq >> (8 * (off - 4)));
      else break;
      if (p[i] != want) {
        c->rx_off = off;
        verify_failed(c, idx, "echoed header byte differs from the one sent", p[i]);
        return;
      }
    }
    if (c->rx_off + take > ECHO_HEADER) {
      uint32_t from = c->rx_off > ECHO_HEADER ? c->rx_off : ECHO_HEADER;
      uint64_t at = splitmix64((uint64_t)gid << 32 | seq) % (POOL_BYTES - msg_size);
      const uint8_t *want = pool + at + (from - ECHO_HEADER);
      const uint8_t *got = p + (from - c->rx_off);
      uint32_t len = c->rx_off + take - from;
      if (memcmp(got, want, len) != 0) {
        uint32_t k = 0;
        while (got[k] == want[k]) k++;
        c->rx_off = from + k;
        verify_failed(c, idx, "echoed byte differs from the one sent", got[k]);
        return;
      }
    }
    c->rx_off += take;
    p += take;
    n -= take;
    if (c->rx_off < msg_size) return;
    uint64_t now = mono_ns();
    uint64_t due = due_ring[(size_t)idx * max_outstanding + seq % max_outstanding];
    c->rx_off = 0;
    c->rxq++;
    in_flight--;
    messages_total++;
    if (now >= window_start && now < window_end) {
      messages++;
      window_bytes += msg_size;
    }
    if (due >= window_start && due < window_end) latency_add(&window_latency, now - due);
  }
}

static void rate_start(uint64_t now) {
  period_ns = 1e9 / rate_per_s;
  /* Processes interleave their schedules: process K starts K/2 of a period later. */
  sched_t0 = now + (uint64_t)(period_ns * (proc_index % 2) / 2);
  sched_k = 0;
  sched_end = window_end;
  for (uint32_t i = 0; i < nconns; i++) {
    conns[i].sched = conns[i].txq = conns[i].rxq = 1; /* sequence 0 was the connection's ping */
    conns[i].tx_off = conns[i].rx_off = 0;
    conns[i].tx_started = conns[i].tx_counted = 0;
  }
}

/* ---- ingest: one-way streaming ---- */

/* The position-weighted checksum of the stream: a = sum of bytes, s = sum of a after each byte, both mod 2^32.
   Mirrored by ingestSum() in servers/ingest.ts. Appending a slice [p, q) of the pool: a += A, s += len*a_before + S. */
static void ingest_add(struct conn *c, uint32_t p, uint32_t q) {
  uint32_t len = q - p;
  uint32_t a_slice = pre_a[q] - pre_a[p];
  uint32_t s_slice = pre_s[q] - pre_s[p] - len * pre_a[p];
  c->ing_s += len * c->ing_a + s_slice;
  c->ing_a += a_slice;
  c->ing_bytes += len;
  if (ingest_lines) c->ing_lines += len / msg_size;
}

static const uint8_t ingest_marker[2] = {INGEST_MARKER, '\n'};

static void ingest_queue_marker(struct conn *c) {
  c->ing_state = ING_MARKER;
  c->w_len = ingest_lines ? 2 : 1;
  c->w_off = 0;
  c->rx_off = 0;
  if (!c->in_flight) {
    c->in_flight = 1;
    in_flight++;
  }
}

/* Writes until the socket is full: data while the run lasts, then the marker. */
static void ingest_write(struct conn *c, uint32_t idx) {
  for (;;) {
    if (c->w_off == c->w_len) {
      if (c->ing_state == ING_MARKER && c->w_len > 0) {
        c->ing_state = ING_REPLY;
        c->w_len = c->w_off = 0;
        break;
      }
      if (c->ing_state != ING_STREAM) break;
      if (phase != P_RUN) {
        if (phase == P_DRAIN) {
          ingest_queue_marker(c);
          continue;
        }
        break;
      }
      uint32_t units = POOL_BYTES / msg_size, per = write_bytes / msg_size;
      uint32_t gid = global_id(idx);
      c->w_pos = (uint32_t)(splitmix64((uint64_t)gid << 32 | c->seq++) % (units - per + 1)) * msg_size;
      c->w_len = write_bytes;
      c->w_off = 0;
      ingest_add(c, c->w_pos, c->w_pos + c->w_len);
      uint64_t now = mono_ns();
      if (now >= window_start && now < window_end) window_bytes += c->w_len;
    }
    const uint8_t *src = c->ing_state == ING_MARKER ? ingest_marker : pool + c->w_pos;
    if (transport_write(c, idx, src, c->w_len, &c->w_off) != 1) return;
  }
  set_want_out(c, idx, 0);
}

/* The server's answer to a marker: its totals for this connection, which must be ours. */
static void ingest_reply_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  if (c->ing_state != ING_REPLY || c->rx_off + n > INGEST_REPLY_BYTES) {
    verify_failed(c, idx, "bytes from the server while none were asked for", n);
    return;
  }
  uint8_t want[INGEST_REPLY_BYTES];
  put_u32(want, INGEST_MAGIC);
  put_u32(want + 4, ingest_lines ? c->ing_lines : 0);
  put_u32(want + 8, (uint32_t)c->ing_bytes);
  put_u32(want + 12, (uint32_t)(c->ing_bytes >> 32));
  put_u32(want + 16, c->ing_a);
  put_u32(want + 20, c->ing_s);
  if (memcmp(p, want + c->rx_off, n) != 0) {
    uint32_t k = 0;
    while (p[k] == want[c->rx_off + k]) k++;
    uint32_t field = (c->rx_off + k) / 4;
    static const char *const names[] = {"magic", "line count", "byte count (low)", "byte count (high)", "checksum a", "checksum s"};
    c->rx_off += k;
    char what[96];
    snprintf(what, sizeof what, "server's %s for the stream differs from what was sent (%llu bytes)", names[field],
             (unsigned long long)c->ing_bytes);
    verify_failed(c, idx, what, field < 6 ? get_u32(p + (k & ~3u)) : 0);
    return;
  }
  c->rx_off += n;
  if (c->rx_off < INGEST_REPLY_BYTES) return;
  c->rx_off = 0;
  c->in_flight = 0;
  in_flight--;
  messages_total++;
  if (phase == P_CONNECT) {
    c->ing_state = ING_STREAM;
  } else {
    c->ing_state = ING_DONE;
    verified_conns++;
    ingest_bytes_total += c->ing_bytes;
    ingest_lines_total += c->ing_lines;
  }
}

/* ---- fanout ---- */

static void fanout_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  static uint8_t expected[MAX_SIZE];
  static uint32_t expected_round = UINT32_MAX;
  if (idx == ctrl_idx) return; /* the control connection gets the broadcasts too; not counted */
  while (n > 0) {
    uint32_t round = c->round;
    if (round >= MAX_ROUNDS) {
      verify_failed(c, idx, "more rounds than the maximum", round);
      return;
    }
    if (round != expected_round) {
      fanout_payload(round, expected);
      expected_round = round;
    }
    uint32_t take = bcast_size - c->rx_off < n ? bcast_size - c->rx_off : n;
    if (memcmp(p, expected + c->rx_off, take) != 0) {
      verify_failed(c, idx, "broadcast differs from the expected round (got round)",
                    c->rx_off == 0 && take >= 4 ? get_u32(p) : UINT32_MAX);
      return;
    }
    c->rx_off += take;
    p += take;
    n -= take;
    if (c->rx_off < bcast_size) return;
    uint64_t now = mono_ns();
    c->rx_off = 0;
    c->round++;
    if (rounds_done[round]++ == 0) round_first[round] = now;
    if (rounds_done[round] == nconns) {
      round_last[round] = now;
      printf("{\"event\":\"round\",\"index\":%u,\"round\":%u,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_s\":%.6f}\n",
             proc_index, round, (unsigned long long)round_first[round], (unsigned long long)now, cpu_seconds());
      fflush(stdout);
    }
  }
}

static void trigger_round(uint32_t round) {
  if (ctrl_idx == UINT32_MAX || conns[ctrl_idx].state != C_OPEN) die("trigger without an open control connection");
  uint8_t msg[TRIGGER_BYTES];
  put_u32(msg, TRIGGER_MAGIC);
  put_u32(msg + 4, round);
  uint64_t t = mono_ns();
  uint32_t off = 0;
  if (transport_write(&conns[ctrl_idx], ctrl_idx, msg, sizeof msg, &off) == 0) conn_lost(&conns[ctrl_idx], ctrl_idx, "trigger send blocked", 0);
  printf("{\"event\":\"triggered\",\"index\":%u,\"round\":%u,\"t_ns\":%llu,\"cpu_s\":%.6f}\n", proc_index, round,
         (unsigned long long)t, cpu_seconds());
  fflush(stdout);
}

static void finish_fanout(uint32_t rounds) {
  for (uint32_t i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->state == C_OPEN && (c->round != rounds + 1 || c->rx_off != 0)) verify_failed(c, i, "rounds received", c->round - 1);
  }
  phase = P_DONE;
}

/* ---- events ---- */

static void payload_bytes(struct conn *c, uint32_t idx, const uint8_t *p, uint32_t n) {
  if (phase == P_FANOUT) fanout_bytes(c, idx, p, n);
  else if (mode == MODE_INGEST) ingest_reply_bytes(c, idx, p, n);
  else if (mode == MODE_RATE && phase >= P_RUN) rate_bytes(c, idx, p, n);
  else echo_bytes(c, idx, p, n);
}

/* One read a wake-up (epoll is level-triggered: what is left wakes it again); through TLS, until OpenSSL holds nothing more. */
static void on_readable(struct conn *c, uint32_t idx) {
  do {
    ssize_t n = transport_read(c, idx);
    if (n <= 0) return;
    bytes_rx_total += (uint64_t)n;
    if (proto == PROTO_WS) ws_bytes(c, idx, rbuf, (uint32_t)n);
    else payload_bytes(c, idx, rbuf, (uint32_t)n);
  } while ((c->state == C_OPEN || c->state == C_SETUP) && c->ssl != NULL && SSL_pending(c->ssl) > 0);
}

static void on_writable(struct conn *c, uint32_t idx) {
  if (mode == MODE_INGEST) ingest_write(c, idx);
  else if (mode == MODE_RATE && phase >= P_RUN) rate_try_write(c, idx);
  else if (c->in_flight) try_write(c, idx);
  else if (pong_flush(c, idx)) set_want_out(c, idx, 0);
}

static void on_event(uint32_t idx, uint32_t ev) {
  struct conn *c = &conns[idx];
  if (c->state == C_CONNECTING) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connect_ready(c, idx);
    return;
  }
  if (c->state == C_SETUP) {
    setup_step(c, idx);
    return;
  }
  if (c->state != C_OPEN) return;
  if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) || ((ev & EPOLLOUT) && c->read_wants_out)) on_readable(c, idx);
  if (c->state == C_OPEN && (ev & EPOLLOUT) && c->want_out) on_writable(c, idx);
}

static void emit_connected(void) {
  printf("{\"event\":\"connected\",\"index\":%u,\"connected\":%u,\"failed\":%u,\"errors\":%llu,\"connect_s\":%.3f,"
         "\"cpu_s\":%.6f}\n",
         proc_index, connected, connect_failed, (unsigned long long)(conn_errors + verify_errors),
         (double)(t_connected - t_begin) / 1e9, cpu_seconds());
  fflush(stdout);
  /* Errors already: say so in the result line at once, don't wait for commands. */
  if (conn_errors || verify_errors) phase = P_DONE;
}

static void transport_open(struct conn *c, uint32_t idx) {
  c->state = C_OPEN;
  connecting--;
  if (phase == P_CONNECT) connected++;
  open_conns++;
  if (idx == ctrl_idx) return;
  if (mode == MODE_INGEST) {
    /* The marker on an empty stream: the server's zero totals confirm it. */
    ingest_queue_marker(c);
    ingest_write(c, idx);
  } else {
    send_message(c, idx); /* the ping that confirms it */
  }
}

static void ping_all(void) {
  for (uint32_t i = 0; i < nconns; i++)
    if (conns[i].state == C_OPEN) {
      conns[i].seq++;
      send_message(&conns[i], i);
    }
  phase_deadline = mono_ns() + (uint64_t)(ping_timeout_s * 1e9);
}

static void connect_phase_done(uint64_t now) {
  t_connected = now;
  phase = mode == MODE_IDLE ? P_HOLD : mode == MODE_FANOUT ? P_FANOUT : P_READY;
  emit_connected();
}

static void emit_result(void) {
  uint64_t now = mono_ns();
  printf("{\"event\":\"result\",\"index\":%u,\"mode\":%d,\"proto\":\"%s\",\"tls\":%s,\"conns\":%u,\"connected\":%u,\"open_at_end\":%u,"
         "\"connect_s\":%.3f,\"messages\":%llu,\"bytes\":%llu,\"messages_total\":%llu,\"bytes_rx_total\":%llu,"
         "\"window_s\":%.6f,\"verify_errors\":%llu,\"conn_errors\":%llu,"
         "\"first_verify_error\":\"%s\",\"first_conn_error\":\"%s\","
         "\"cpu_s\":%.6f,\"cpu_window_s\":%.6f,\"wall_s\":%.3f,"
         "\"scheduled\":%llu,\"late\":%llu,\"missed\":%llu,\"max_lag_ns\":%llu,"
         "\"verified_conns\":%llu,\"ingest_bytes\":%llu,\"ingest_lines\":%llu,\"pongs\":%llu,",
         proc_index, mode, proto_names[proto], use_tls ? "true" : "false", nconns, connected,
         open_conns - (ctrl_idx != UINT32_MAX && conns[ctrl_idx].state == C_OPEN), (double)(t_connected - t_begin) / 1e9,
         (unsigned long long)messages, (unsigned long long)window_bytes, (unsigned long long)messages_total,
         (unsigned long long)bytes_rx_total, (double)(window_end - window_start) / 1e9, (unsigned long long)verify_errors,
         (unsigned long long)conn_errors, first_verify_error, first_conn_error, cpu_seconds(),
         cpu_window_end >= 0 && cpu_window_start >= 0 ? cpu_window_end - cpu_window_start : 0.0, (double)(now - t_begin) / 1e9,
         (unsigned long long)scheduled_window, (unsigned long long)late_sends, (unsigned long long)missed_sends,
         (unsigned long long)max_lag_ns, (unsigned long long)verified_conns, (unsigned long long)ingest_bytes_total,
         (unsigned long long)ingest_lines_total, (unsigned long long)pongs);
  print_latency(&window_latency);
  printf("}\n");
  fflush(stdout);
}

static void on_command(char *cmd) {
  unsigned long long a, b;
  unsigned r;
  if (sscanf(cmd, "start %llu %llu", &a, &b) == 2 && phase == P_READY) {
    window_start = a;
    window_end = b;
    phase = P_RUN;
    if (mode == MODE_RATE) rate_start(mono_ns());
    for (uint32_t i = 0; i < nconns && mode != MODE_RATE; i++) {
      struct conn *c = &conns[i];
      if (c->state != C_OPEN) continue;
      if (mode == MODE_INGEST) {
        ingest_write(c, i);
      } else if (mode == MODE_HANDSHAKE) {
        reconnect(c, i);
      } else {
        c->seq++;
        send_message(c, i);
      }
    }
  } else if (strcmp(cmd, "verify") == 0 && phase == P_HOLD) {
    phase = P_PING;
    ping_all();
  } else if (sscanf(cmd, "trigger %u", &r) == 1 && phase == P_FANOUT) {
    trigger_round(r);
  } else if (sscanf(cmd, "finish %u", &r) == 1 && phase == P_FANOUT) {
    finish_fanout(r);
  } else {
    die("unexpected command in the %s phase: %.100s", phase_names[phase], cmd);
  }
}

/* Moves between phases on counts and deadlines. */
static void advance(uint64_t now) {
  if (phase == P_CONNECT) {
    /* Unconfirmed: connecting, or connected with the ping not back yet. */
    while (connecting + in_flight < max_pending && next_to_connect < total_conns) start_connect(next_to_connect++);
    if (now >= connect_deadline) {
      note(first_conn_error, "connect phase timed out after %.0f s", connect_timeout_s);
      for (uint32_t i = 0; i < total_conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_UNSTARTED) c->state = C_CLOSED, connect_failed++, conn_errors++;
        else if (c->state == C_CONNECTING || c->state == C_SETUP) conn_lost(c, i, "connect timed out", 0);
        else if (c->in_flight) conn_lost(c, i, "first echo not back before the connect deadline", 0);
      }
      next_to_connect = total_conns;
    }
    if (next_to_connect < total_conns || connecting > 0 || in_flight > 0) return;
    connect_phase_done(now);
    return;
  }
  if (phase == P_PING) {
    if (in_flight > 0 && now < phase_deadline) return;
    for (uint32_t i = 0; i < nconns; i++)
      if (conns[i].in_flight) conn_lost(&conns[i], i, "ping not echoed in time", 0);
    phase = P_DONE;
    return;
  }
  if (phase == P_RUN) {
    if (cpu_window_start < 0 && now >= window_start) cpu_window_start = cpu_seconds();
    if (mode == MODE_RATE) rate_schedule(now);
    if (now >= window_end) {
      cpu_window_end = cpu_seconds();
      phase = P_DRAIN;
      phase_deadline = now + (uint64_t)(drain_timeout_s * 1e9);
      if (mode == MODE_INGEST) {
        /* Every connection finishes the write in progress, then sends its marker. */
        for (uint32_t i = 0; i < nconns; i++) {
          struct conn *c = &conns[i];
          if (c->state != C_OPEN || c->ing_state != ING_STREAM) continue;
          if (!c->in_flight) {
            c->in_flight = 1;
            in_flight++;
          }
          ingest_write(c, i);
        }
      }
    }
    return;
  }
  if (phase == P_DRAIN) {
    /* Handshake mode: cycles still connecting finish too, so every connection ends open. */
    if (in_flight == 0 && connecting == 0) {
      phase = P_DONE;
    } else if (now >= phase_deadline) {
      for (uint32_t i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_CONNECTING || c->state == C_SETUP) conn_lost(c, i, "connection not set up within the drain timeout", 0);
        else if (c->in_flight || (mode == MODE_RATE && c->sched != c->rxq))
          conn_lost(c, i, mode == MODE_INGEST ? "server's totals not back within the drain timeout" : "echo not back within the drain timeout", 0);
      }
      phase = P_DONE;
    }
  }
}

/* How long epoll may wait, in ns: to the next deadline, or (rate) the next due message, but at least --tick-us. */
static uint64_t wait_ns(uint64_t now) {
  uint64_t next = now + 100000000ull; /* wake at least every 100 ms */
  if (phase == P_CONNECT && connect_deadline < next) next = connect_deadline;
  if ((phase == P_PING || phase == P_DRAIN) && phase_deadline < next) next = phase_deadline;
  if (phase == P_RUN) {
    if (cpu_window_start < 0 && window_start < next) next = window_start;
    if (window_end < next) next = window_end;
    if (mode == MODE_RATE) {
      uint64_t due = due_of(sched_k);
      uint64_t earliest = now + (uint64_t)(tick_us * 1e3);
      if (due < earliest) due = earliest;
      if (due < next) next = due;
    }
  }
  return next > now ? next - now : 0;
}

static int finished(void) { return phase == P_DONE; }

static void parse_args(int argc, char **argv) {
  parse_options(argc, argv, options, OPTION_COUNT);
  if (mode < 0) print_usage(argv[0], options, OPTION_COUNT);
  snprintf(client_name, sizeof client_name, "loadgen[%u]", proc_index);
  check_connection_options();
  if (mode == MODE_FANOUT) {
    bcast_size = msg_size ? msg_size : 64;
    msg_size = PING_BYTES;
  } else if (mode == MODE_IDLE || mode == MODE_HANDSHAKE) {
    msg_size = PING_BYTES;
  }
  if (msg_size < PING_BYTES || msg_size > MAX_SIZE) die("--size must be %u..%u", PING_BYTES, MAX_SIZE);
  if (mode == MODE_FANOUT && (bcast_size < 8 || bcast_size > MAX_SIZE)) die("fanout --size must be 8..%u", MAX_SIZE);
  if (has_trigger && mode != MODE_FANOUT) die("--trigger is for fanout");
  if (proto == PROTO_WS && (mode == MODE_FANOUT || mode == MODE_INGEST)) die("--proto ws works with the idle, echo, bulk, rate and handshake modes");
  if (mode == MODE_RATE && !(rate_per_s > 0)) die("rate mode needs --rate > 0");
  if (mode == MODE_RATE && (max_outstanding == 0 || max_outstanding > MAX_OUTSTANDING)) die("--max-outstanding must be 1..%u", MAX_OUTSTANDING);
  if (ingest_lines && mode != MODE_INGEST) die("--lines is for ingest");
  if (mode == MODE_INGEST) {
    if (ingest_lines && msg_size < 2) die("--lines needs --size of at least 2");
    if (msg_size > POOL_BYTES / 4) die("ingest --size must be at most %u", POOL_BYTES / 4);
    if (write_bytes == 0) write_bytes = msg_size >= 4096 ? msg_size : 4096 / msg_size * msg_size;
    if (write_bytes % msg_size != 0 || write_bytes > POOL_BYTES / 2) die("--write-bytes must be whole units of --size, at most %u", POOL_BYTES / 2);
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  before_exit = reset_all;
  /* Best effort: without the privilege the process runs at the default priority, and says so. */
  if (nice_value != 0 && setpriority(PRIO_PROCESS, 0, nice_value) != 0)
    fprintf(stderr, "%s: could not set nice %d: %s\n", client_name, nice_value, strerror(errno));
  client_start();
  t_begin = mono_ns();
  connect_deadline = t_begin + (uint64_t)(connect_timeout_s * 1e9);

  pool = malloc(POOL_BYTES);
  rbuf = malloc(READ_BYTES);
  if (pool == NULL || rbuf == NULL) die("out of memory");
  for (uint32_t i = 0; i < POOL_BYTES; i += 8) {
    uint64_t x = splitmix64(0x466c616d696e676full + i);
    memcpy(pool + i, &x, 8);
  }
  if (mode == MODE_INGEST) {
    /* Data bytes are never 0xFF (the marker) nor '\n' (but at the end of each line with --lines). */
    for (uint32_t i = 0; i < POOL_BYTES; i++) {
      uint32_t v = pool[i] % 254u;
      pool[i] = (uint8_t)(v >= '\n' ? v + 1 : v);
      if (ingest_lines && i % msg_size == msg_size - 1) pool[i] = '\n';
    }
    pre_a = malloc((POOL_BYTES + 1) * sizeof *pre_a);
    pre_s = malloc((POOL_BYTES + 1) * sizeof *pre_s);
    if (pre_a == NULL || pre_s == NULL) die("out of memory");
    pre_a[0] = pre_s[0] = 0;
    for (uint32_t i = 0; i < POOL_BYTES; i++) {
      pre_a[i + 1] = pre_a[i] + pool[i];
      pre_s[i + 1] = pre_s[i] + pre_a[i + 1];
    }
  }
  if (mode == MODE_RATE) {
    due_ring = calloc((size_t)nconns * max_outstanding, sizeof *due_ring);
    if (due_ring == NULL) die("out of memory");
  }
  total_conns = nconns + (has_trigger ? 1 : 0);
  if (has_trigger) ctrl_idx = nconns;
  conns = calloc(total_conns, sizeof *conns);
  if (conns == NULL) die("out of memory");
  {
    uint8_t *tx = malloc((size_t)nconns * msg_size);
    uint32_t frame_bytes = proto == PROTO_WS ? WS_CLIENT_HEADER_MAX + msg_size : 0;
    uint8_t *frames = proto == PROTO_WS ? malloc((size_t)nconns * frame_bytes) : NULL;
    if (tx == NULL || (proto == PROTO_WS && frames == NULL)) die("out of memory");
    for (uint32_t i = 0; i < nconns; i++) {
      conns[i].tx = tx + (size_t)i * msg_size;
      if (frames != NULL) conns[i].frame = frames + (size_t)i * frame_bytes;
    }
  }
  for (uint32_t i = 0; i < total_conns; i++) conns[i].round = 1;
  latency_reset(&window_latency);
  if (use_tls && (tls_ctx = tls_client_context()) == NULL) die("SSL_CTX_new failed");
  inet_ntop(AF_INET, &(struct in_addr){htonl(server_ip)}, host_text, sizeof host_text);
  if (getrandom(&random_state, sizeof random_state, 0) != sizeof random_state) random_state = mono_ns() ^ (uint64_t)getpid() << 32;

  const struct client_handlers handlers = {advance, wait_ns, on_command, on_event, finished};
  run_event_loop(&handlers);
  emit_result();
  reset_all();
  return verify_errors || conn_errors ? 1 : 0;
}
