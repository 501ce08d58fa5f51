// Flamingo's load generator: one single-threaded epoll process that opens up
// to ~19,000 client connections and drives them in one of six modes.
//
// In every mode each new connection first echoes one message (a 16-byte
// ping in idle and fanout mode; in ingest mode the marker and the server's
// totals, see below), and at most --max-pending connections are
// unconfirmed at a time: connects are paced by what the server really
// accepts and serves, never overflowing its listen backlog (a dropped SYN
// costs a 1 s retransmit), and once "connected" is reported the server has
// registered every connection.
//
//   idle    connect N, hold until "verify", then ping each one again. Any
//           byte or hang-up during the hold is an error.
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
//
// Every byte is verified. An echo message is a function of (connection,
// sequence): bytes 0-3 the connection's global id, 4-7 the sequence, the
// rest a slice of a fixed pseudo-random pool chosen by a hash of both, so a
// misrouted, reordered, duplicated or corrupted echo cannot match. A
// broadcast is a function of its round (see fanout_payload, mirrored by
// bench/load/servers/protocol.ts).
//
// Sockets bind to source addresses 127.0.0.<src-base> onward with
// IP_BIND_ADDRESS_NO_PORT (the port is picked at connect() by the whole
// 4-tuple), and close with SO_LINGER 0 (a reset: no TIME_WAIT on either
// side), so back-to-back runs never run out of ephemeral ports.
//
// Protocol with the orchestrator (bench/load/run.ts): commands on stdin, one
// per line; events on stdout, one JSON object per line, each carrying the
// process CPU seconds so far; the last line is {"event":"result",...}.
//   stdin:  start <window_start_ns> <window_end_ns>   (echo, bulk, rate, ingest)
//           verify                                     (idle)
//           trigger <round>                            (fanout, --trigger)
//           finish <rounds>                            (fanout)
//   stdout: connected, triggered, round, result
// All times are CLOCK_MONOTONIC nanoseconds, which are system-wide, so they
// compare across processes (Node's process.hrtime.bigint() reads the same
// clock). End of stdin (the orchestrator died) ends the process at once;
// --max-seconds bounds its whole life.
//
// Build: cc -O2 -o bench/load/.build/loadgen bench/load/loadgen.c

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 19990
#define MAX_SIZE (256 * 1024)
#define POOL_BYTES (1u << 20)
#define READ_BYTES (64 * 1024)
#define MAX_EVENTS 512
#define MAX_ROUNDS 10000
#define LINE_BYTES 256
#define ERROR_TEXT 200
#define ECHO_HEADER 8
#define PING_BYTES 16
/* Histogram: exact below 32 ns, then 32 buckets per power of two (~3% wide). */
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)
/* Byte patterns shared with bench/load/servers/protocol.ts. */
#define FANOUT_MAGIC 0x474d4c46u  /* "FLMG" little-endian */
#define TRIGGER_MAGIC 0x47495254u /* "TRIG" little-endian */
#define TRIGGER_BYTES 8
#define STDIN_TAG UINT64_MAX
/* Ingest: the end-of-stream marker byte (never in the data) and the server's reply, "SUMS" little-endian first. */
#define INGEST_MARKER 0xffu
#define INGEST_MAGIC 0x534d5553u
#define INGEST_REPLY_BYTES 24
#define MAX_OUTSTANDING 1024

enum mode { MODE_IDLE, MODE_ECHO, MODE_BULK, MODE_FANOUT, MODE_RATE, MODE_INGEST };
enum conn_state { C_UNSTARTED, C_CONNECTING, C_OPEN, C_CLOSED };
enum phase { P_CONNECT, P_HOLD, P_PING, P_READY, P_RUN, P_DRAIN, P_FANOUT, P_DONE };
static const char *const phase_names[] = {"connect", "hold", "ping", "ready", "run", "drain", "fanout", "done"};

struct conn {
  int fd;
  uint8_t state;
  uint8_t in_flight; /* echo: a message is out and not fully back */
  uint8_t want_out;  /* EPOLLOUT is armed */
  uint32_t seq;      /* echo: sequence of the message in flight */
  uint32_t tx_off;   /* bytes of it written */
  uint32_t rx_off;   /* bytes of it (or of the current broadcast) verified */
  uint32_t round;    /* fanout: round expected next */
  uint64_t t_sent;   /* echo: when the message in flight was sent */
  uint8_t *tx;       /* echo: the message in flight; rate: the message being written */
  /* rate: sequences scheduled (next to schedule), written (next to write), echoed (next expected). */
  uint32_t sched, txq, rxq;
  /* ingest: what this connection has committed to the stream, and the write in progress. */
  uint8_t ing_state; /* ING_* */
  uint32_t ing_lines, ing_a, ing_s;
  uint64_t ing_bytes;
  uint32_t w_pos, w_len, w_off; /* pool offset (or the marker), length, bytes written */
};

enum ingest_state { ING_STREAM, ING_MARKER, ING_REPLY, ING_DONE };

/* Options. */
static enum mode mode;
static uint32_t server_ip; /* host order */
static uint16_t server_port;
static uint32_t nconns;
static uint32_t msg_size;   /* echo message (idle, fanout: the ping) */
static uint32_t bcast_size; /* fanout: one broadcast */
static uint32_t src_base = 2, src_count = 4;
static uint32_t proc_index;
static int has_trigger;
static uint32_t max_pending = 200;
static double connect_timeout_s = 90, drain_timeout_s = 10, ping_timeout_s = 30;
static unsigned max_seconds = 600;
static double rate_per_s;          /* rate: messages/s over all of this process's connections */
static uint32_t max_outstanding = 64;
static double late_us = 1000, tick_us = 50;
static int ingest_lines;           /* ingest: units are lines ending in '\n' */
static uint32_t write_bytes;       /* ingest: bytes per send (whole units) */
static int sndbuf_bytes;           /* SO_SNDBUF of each connection (0: the kernel's autotuning) */
static int nice_value;             /* --nice: this process's scheduling priority (negative: ahead of the servers) */

/* State. */
static struct conn *conns;
static uint32_t total_conns; /* nconns, plus the control connection with --trigger */
static uint32_t ctrl_idx = UINT32_MAX;
static int ep;
static enum phase phase = P_CONNECT;
static uint8_t *pool;
static uint8_t *rbuf;
static uint32_t next_to_connect, connecting, connected, connect_failed;
static uint64_t t_begin, t_connected, connect_deadline, phase_deadline;
static uint64_t window_start, window_end;
static double cpu_window_start = -1, cpu_window_end = -1;
static uint32_t in_flight, open_conns;
static uint64_t messages, window_bytes, messages_total, bytes_rx_total;
static uint64_t hist[HIST_BUCKETS];
static uint64_t lat_min = UINT64_MAX, lat_max;
static uint64_t verify_errors, conn_errors;
static char first_verify_error[ERROR_TEXT], first_conn_error[ERROR_TEXT];
static uint32_t rounds_done[MAX_ROUNDS];
static uint64_t round_first[MAX_ROUNDS], round_last[MAX_ROUNDS];
static char line[LINE_BYTES];
static size_t line_len;
/* rate */
static uint64_t *due_ring; /* per connection, max_outstanding due times, by sequence */
static uint64_t sched_t0, sched_k, sched_end;
static double period_ns;
static uint64_t scheduled_window, late_sends, missed_sends, max_lag_ns;
/* ingest: prefix sums over the pool, so any slice's checksum is O(1) */
static uint32_t *pre_a, *pre_s;
static uint64_t ingest_bytes_total, ingest_lines_total, verified_conns;

static uint64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void reset_all(void);

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen[%u]: ", proc_index);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  reset_all();
  exit(2);
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

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

static void fill_message(struct conn *c, uint32_t idx) {
  uint32_t gid = global_id(idx);
  put_u32(c->tx, gid);
  put_u32(c->tx + 4, c->seq);
  uint64_t at = splitmix64((uint64_t)gid << 32 | c->seq) % (POOL_BYTES - msg_size);
  memcpy(c->tx + ECHO_HEADER, pool + at, msg_size - ECHO_HEADER);
}

/* The broadcast of one round: mirrored by fanoutPayload() in servers/protocol.ts. */
static void fanout_payload(uint32_t round, uint8_t *out) {
  put_u32(out, round);
  put_u32(out + 4, FANOUT_MAGIC);
  for (uint32_t i = 8; i < bcast_size; i++) out[i] = (uint8_t)(round * 131u + i * 29u + (round >> 8));
}

static int hist_index(uint64_t v) {
  if (v < HIST_SUB) return (int)v;
  int e = 63 - __builtin_clzll(v);
  return (e - HIST_SUB_BITS + 1) * HIST_SUB + (int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static uint64_t hist_low(int index) {
  if (index < HIST_SUB) return (uint64_t)index;
  int e = index / HIST_SUB + HIST_SUB_BITS - 1;
  return (uint64_t)(HIST_SUB + index % HIST_SUB) << (e - HIST_SUB_BITS);
}

static uint64_t hist_high(int index) {
  if (index < HIST_SUB) return (uint64_t)index + 1;
  int e = index / HIST_SUB + HIST_SUB_BITS - 1;
  return hist_low(index) + (1ull << (e - HIST_SUB_BITS));
}

static uint64_t hist_percentile(double q) {
  uint64_t total = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) total += hist[i];
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)total);
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen > rank) return (hist_low(i) + hist_high(i)) / 2;
  }
  return 0;
}

static void note(char *slot, const char *fmt, ...) {
  if (slot[0] != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(slot, ERROR_TEXT, fmt, ap);
  va_end(ap);
  for (char *p = slot; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 32) *p = '\'';
}

static void set_events(struct conn *c, uint64_t tag, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = tag};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl MOD: %s", strerror(errno));
}

/* Closes with a reset (SO_LINGER 0): no TIME_WAIT anywhere. */
static void close_conn(struct conn *c) {
  if (c->state == C_CLOSED || c->state == C_UNSTARTED) return;
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(c->fd);
  if (c->state == C_CONNECTING) connecting--;
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

static void conn_lost(struct conn *c, uint32_t idx, const char *what, int err) {
  conn_errors++;
  note(first_conn_error, "connection %u (global %u, %s phase): %s%s%s", idx, global_id(idx), phase_names[phase], what,
       err ? ": " : "", err ? strerror(err) : "");
  if (c->state == C_CONNECTING) connect_failed++;
  close_conn(c);
}

static void verify_failed(struct conn *c, uint32_t idx, const char *what, uint32_t detail) {
  verify_errors++;
  note(first_verify_error, "connection %u (global %u) seq/round %u at byte %u: %s (%u)", idx, global_id(idx),
       mode == MODE_FANOUT ? c->round : mode == MODE_RATE && phase >= P_RUN ? c->rxq : c->seq, c->rx_off, what, detail);
  close_conn(c);
}

static void start_connect(uint32_t idx) {
  struct conn *c = &conns[idx];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sndbuf_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_bytes, sizeof sndbuf_bytes);
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr.s_addr = htonl(0x7f000000u + src_base + idx % src_count);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind 127.0.0.%u: %s", src_base + idx % src_count, strerror(errno));
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(server_port)};
  dst.sin_addr.s_addr = htonl(server_ip);
  c->fd = fd;
  c->state = C_CONNECTING;
  connecting++;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = idx};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl ADD: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) conn_lost(c, idx, "connect", errno);
}

static void try_write(struct conn *c, uint32_t idx) {
  while (c->tx_off < msg_size) {
    ssize_t w = send(c->fd, c->tx + c->tx_off, msg_size - c->tx_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->tx_off += (uint32_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      if (!c->want_out) set_events(c, idx, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
      c->want_out = 1;
      return;
    }
    conn_lost(c, idx, "send", w < 0 ? errno : 0);
    return;
  }
  if (c->want_out) set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  c->want_out = 0;
}

static void send_message(struct conn *c, uint32_t idx) {
  fill_message(c, idx);
  c->tx_off = 0;
  c->rx_off = 0;
  c->in_flight = 1;
  in_flight++;
  c->t_sent = mono_ns();
  try_write(c, idx);
}

static void message_done(struct conn *c, uint32_t idx) {
  uint64_t now = mono_ns();
  c->in_flight = 0;
  c->rx_off = 0; /* fanout: broadcasts are verified from their first byte on */
  in_flight--;
  messages_total++;
  if (phase == P_RUN || phase == P_DRAIN) {
    if (now >= window_start && now < window_end) {
      uint64_t rtt = now - c->t_sent;
      hist[hist_index(rtt)]++;
      if (rtt < lat_min) lat_min = rtt;
      if (rtt > lat_max) lat_max = rtt;
      messages++;
      window_bytes += msg_size;
    }
    if (phase == P_RUN && now < window_end) {
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

static void fill_message_seq(uint8_t *out, uint32_t idx, uint32_t seq) {
  uint32_t gid = global_id(idx);
  put_u32(out, gid);
  put_u32(out + 4, seq);
  uint64_t at = splitmix64((uint64_t)gid << 32 | seq) % (POOL_BYTES - msg_size);
  memcpy(out + ECHO_HEADER, pool + at, msg_size - ECHO_HEADER);
}

/* Writes the connection's scheduled messages, in order, until done or EAGAIN. */
static void rate_try_write(struct conn *c, uint32_t idx) {
  while (c->txq != c->sched) {
    if (c->tx_off == 0) {
      fill_message_seq(c->tx, idx, c->txq);
      uint64_t due = due_ring[(size_t)idx * max_outstanding + c->txq % max_outstanding];
      uint64_t now = mono_ns();
      uint64_t lag = now > due ? now - due : 0;
      if (due >= window_start && due < window_end) {
        if (lag > max_lag_ns) max_lag_ns = lag;
        if ((double)lag > late_us * 1e3) late_sends++;
      }
    }
    ssize_t w = send(c->fd, c->tx + c->tx_off, msg_size - c->tx_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->tx_off += (uint32_t)w;
      if (c->tx_off == msg_size) {
        c->tx_off = 0;
        c->txq++;
      }
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      if (!c->want_out) set_events(c, idx, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
      c->want_out = 1;
      return;
    }
    conn_lost(c, idx, "send", w < 0 ? errno : 0);
    return;
  }
  if (c->want_out) set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  c->want_out = 0;
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
    uint32_t written = c->rxq != c->txq ? msg_size : c->tx_off;
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
    if (due >= window_start && due < window_end) {
      uint64_t rtt = now - due;
      hist[hist_index(rtt)]++;
      if (rtt < lat_min) lat_min = rtt;
      if (rtt > lat_max) lat_max = rtt;
    }
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

/* Writes until EAGAIN: data while the run lasts, then the marker. */
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
    ssize_t w = send(c->fd, src + c->w_off, c->w_len - c->w_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->w_off += (uint32_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      if (!c->want_out) set_events(c, idx, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
      c->want_out = 1;
      return;
    }
    conn_lost(c, idx, "send", w < 0 ? errno : 0);
    return;
  }
  if (c->want_out) set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  c->want_out = 0;
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

static void on_readable(struct conn *c, uint32_t idx) {
  ssize_t n = recv(c->fd, rbuf, READ_BYTES, 0);
  if (n == 0) {
    conn_lost(c, idx, "closed by the server (EOF)", 0);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) conn_lost(c, idx, "recv", errno);
    return;
  }
  bytes_rx_total += (uint64_t)n;
  if (phase == P_FANOUT) fanout_bytes(c, idx, rbuf, (uint32_t)n);
  else if (mode == MODE_INGEST) ingest_reply_bytes(c, idx, rbuf, (uint32_t)n);
  else if (mode == MODE_RATE && phase >= P_RUN) rate_bytes(c, idx, rbuf, (uint32_t)n);
  else echo_bytes(c, idx, rbuf, (uint32_t)n);
}

static void on_connect_ready(struct conn *c, uint32_t idx) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    conn_lost(c, idx, "connect", err);
    return;
  }
  c->state = C_OPEN;
  connecting--;
  connected++;
  open_conns++;
  set_events(c, idx, EPOLLIN | EPOLLRDHUP);
  if (idx == ctrl_idx) return;
  if (mode == MODE_INGEST) {
    /* The marker on an empty stream: the server's zero totals confirm it. */
    ingest_queue_marker(c);
    ingest_write(c, idx);
  } else {
    send_message(c, idx); /* the ping that confirms it */
  }
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
  printf("{\"event\":\"result\",\"index\":%u,\"mode\":%d,\"conns\":%u,\"connected\":%u,\"open_at_end\":%u,"
         "\"connect_s\":%.3f,\"messages\":%llu,\"bytes\":%llu,\"messages_total\":%llu,\"bytes_rx_total\":%llu,"
         "\"window_s\":%.6f,\"verify_errors\":%llu,\"conn_errors\":%llu,"
         "\"first_verify_error\":\"%s\",\"first_conn_error\":\"%s\","
         "\"lat_ns\":{\"min\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu},"
         "\"cpu_s\":%.6f,\"cpu_window_s\":%.6f,\"wall_s\":%.3f,"
         "\"scheduled\":%llu,\"late\":%llu,\"missed\":%llu,\"max_lag_ns\":%llu,"
         "\"verified_conns\":%llu,\"ingest_bytes\":%llu,\"ingest_lines\":%llu,\"hist\":[",
         proc_index, (int)mode, nconns, connected, open_conns - (ctrl_idx != UINT32_MAX && conns[ctrl_idx].state == C_OPEN),
         (double)(t_connected - t_begin) / 1e9, (unsigned long long)messages, (unsigned long long)window_bytes,
         (unsigned long long)messages_total, (unsigned long long)bytes_rx_total,
         (double)(window_end - window_start) / 1e9, (unsigned long long)verify_errors, (unsigned long long)conn_errors,
         first_verify_error, first_conn_error, (unsigned long long)(messages ? lat_min : 0),
         (unsigned long long)hist_percentile(0.5), (unsigned long long)hist_percentile(0.99),
         (unsigned long long)hist_percentile(0.999), (unsigned long long)lat_max, cpu_seconds(),
         cpu_window_end >= 0 && cpu_window_start >= 0 ? cpu_window_end - cpu_window_start : 0.0,
         (double)(now - t_begin) / 1e9, (unsigned long long)scheduled_window, (unsigned long long)late_sends,
         (unsigned long long)missed_sends, (unsigned long long)max_lag_ns, (unsigned long long)verified_conns,
         (unsigned long long)ingest_bytes_total, (unsigned long long)ingest_lines_total);
  int first = 1;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    if (hist[i] == 0) continue;
    printf("%s[%llu,%llu,%llu]", first ? "" : ",", (unsigned long long)hist_low(i), (unsigned long long)hist_high(i),
           (unsigned long long)hist[i]);
    first = 0;
  }
  printf("]}\n");
  fflush(stdout);
}

static void trigger_round(uint32_t round) {
  if (ctrl_idx == UINT32_MAX || conns[ctrl_idx].state != C_OPEN) die("trigger without an open control connection");
  uint8_t msg[TRIGGER_BYTES];
  put_u32(msg, TRIGGER_MAGIC);
  put_u32(msg + 4, round);
  uint64_t t = mono_ns();
  ssize_t w = send(conns[ctrl_idx].fd, msg, sizeof msg, MSG_NOSIGNAL);
  if (w != (ssize_t)sizeof msg) conn_lost(&conns[ctrl_idx], ctrl_idx, "trigger send", w < 0 ? errno : 0);
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

static void on_command(const char *cmd) {
  unsigned long long a, b;
  unsigned r;
  if (sscanf(cmd, "start %llu %llu", &a, &b) == 2 && phase == P_READY) {
    window_start = a;
    window_end = b;
    phase = P_RUN;
    if (mode == MODE_RATE) {
      rate_start(mono_ns());
    } else if (mode == MODE_INGEST) {
      for (uint32_t i = 0; i < nconns; i++)
        if (conns[i].state == C_OPEN) ingest_write(&conns[i], i);
    } else {
      for (uint32_t i = 0; i < nconns; i++)
        if (conns[i].state == C_OPEN) {
          conns[i].seq++;
          send_message(&conns[i], i);
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
    die("unexpected command in the %s phase: %s", phase_names[phase], cmd);
  }
}

static void on_stdin(void) {
  char buf[LINE_BYTES];
  ssize_t n = read(0, buf, sizeof buf);
  if (n == 0) die("stdin closed: the orchestrator is gone");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    die("stdin: %s", strerror(errno));
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      line[line_len] = 0;
      line_len = 0;
      on_command(line);
    } else if (line_len < LINE_BYTES - 1) {
      line[line_len++] = buf[i];
    }
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
        else if (c->state == C_CONNECTING) conn_lost(c, i, "connect timed out", 0);
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
    if (in_flight == 0) phase = P_DONE;
    else if (now >= phase_deadline) {
      for (uint32_t i = 0; i < nconns; i++)
        if (conns[i].in_flight || (mode == MODE_RATE && conns[i].sched != conns[i].rxq))
          conn_lost(&conns[i], i, mode == MODE_INGEST ? "server's totals not back within the drain timeout" : "echo not back within the drain timeout", 0);
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
  if (next <= now) return 0;
  return next - now;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode idle|echo|bulk|fanout|rate|ingest --port P --conns N [--size BYTES] [--host 127.0.0.1]\n"
          "               [--src-base 2] [--src-count 4] [--index K] [--trigger] [--max-pending 200]\n"
          "               [--connect-timeout 90] [--drain-timeout 10] [--ping-timeout 30] [--max-seconds 600]\n"
          "               rate:   --rate MSGS_PER_S [--max-outstanding 64] [--late-us 1000] [--tick-us 50] [--nice N]\n"
          "               ingest: [--lines] [--write-bytes BYTES] [--sndbuf BYTES]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  const char *mode_name = NULL, *host = "127.0.0.1";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--trigger") == 0) { has_trigger = 1; continue; }
    if (strcmp(a, "--lines") == 0) { ingest_lines = 1; continue; }
    if (v == NULL) usage();
    i++;
    if (strcmp(a, "--mode") == 0) mode_name = v;
    else if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) server_port = (uint16_t)atoi(v);
    else if (strcmp(a, "--conns") == 0) nconns = (uint32_t)atol(v);
    else if (strcmp(a, "--size") == 0) msg_size = (uint32_t)atol(v);
    else if (strcmp(a, "--src-base") == 0) src_base = (uint32_t)atol(v);
    else if (strcmp(a, "--src-count") == 0) src_count = (uint32_t)atol(v);
    else if (strcmp(a, "--index") == 0) proc_index = (uint32_t)atol(v);
    else if (strcmp(a, "--max-pending") == 0) max_pending = (uint32_t)atol(v);
    else if (strcmp(a, "--connect-timeout") == 0) connect_timeout_s = atof(v);
    else if (strcmp(a, "--drain-timeout") == 0) drain_timeout_s = atof(v);
    else if (strcmp(a, "--ping-timeout") == 0) ping_timeout_s = atof(v);
    else if (strcmp(a, "--max-seconds") == 0) max_seconds = (unsigned)atoi(v);
    else if (strcmp(a, "--rate") == 0) rate_per_s = atof(v);
    else if (strcmp(a, "--max-outstanding") == 0) max_outstanding = (uint32_t)atol(v);
    else if (strcmp(a, "--late-us") == 0) late_us = atof(v);
    else if (strcmp(a, "--tick-us") == 0) tick_us = atof(v);
    else if (strcmp(a, "--write-bytes") == 0) write_bytes = (uint32_t)atol(v);
    else if (strcmp(a, "--sndbuf") == 0) sndbuf_bytes = atoi(v);
    else if (strcmp(a, "--nice") == 0) nice_value = atoi(v);
    else usage();
  }
  if (mode_name == NULL) usage();
  if (strcmp(mode_name, "idle") == 0) mode = MODE_IDLE;
  else if (strcmp(mode_name, "echo") == 0) mode = MODE_ECHO;
  else if (strcmp(mode_name, "bulk") == 0) mode = MODE_BULK;
  else if (strcmp(mode_name, "fanout") == 0) mode = MODE_FANOUT;
  else if (strcmp(mode_name, "rate") == 0) mode = MODE_RATE;
  else if (strcmp(mode_name, "ingest") == 0) mode = MODE_INGEST;
  else usage();
  struct in_addr addr;
  if (inet_pton(AF_INET, host, &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) die("--host must be a 127.x.y.z address");
  server_ip = ntohl(addr.s_addr);
  if (mode == MODE_FANOUT) {
    bcast_size = msg_size ? msg_size : 64;
    msg_size = PING_BYTES;
  } else if (mode == MODE_IDLE) {
    msg_size = PING_BYTES;
  }
  if (server_port == 0 || nconns == 0 || nconns > MAX_CONNS) die("--port and --conns (1..%u) are required", MAX_CONNS);
  if (msg_size < PING_BYTES || msg_size > MAX_SIZE) die("--size must be %u..%u", PING_BYTES, MAX_SIZE);
  if (mode == MODE_FANOUT && (bcast_size < 8 || bcast_size > MAX_SIZE)) die("fanout --size must be 8..%u", MAX_SIZE);
  if (src_count == 0 || src_base < 2 || src_base + src_count > 0xfffe) die("bad --src-base/--src-count");
  if (has_trigger && mode != MODE_FANOUT) die("--trigger is for fanout");
  if (mode == MODE_RATE && !(rate_per_s > 0)) die("rate mode needs --rate > 0");
  if (mode == MODE_RATE && (max_outstanding == 0 || max_outstanding > MAX_OUTSTANDING)) die("--max-outstanding must be 1..%u", MAX_OUTSTANDING);
  if (ingest_lines && mode != MODE_INGEST) die("--lines is for ingest");
  if (mode == MODE_INGEST) {
    if (ingest_lines && msg_size < 2) die("--lines needs --size of at least 2");
    if (msg_size > POOL_BYTES / 4) die("ingest --size must be at most %u", POOL_BYTES / 4);
    if (write_bytes == 0) write_bytes = msg_size >= 4096 ? msg_size : 4096 / msg_size * msg_size;
    if (write_bytes % msg_size != 0 || write_bytes > POOL_BYTES / 2) die("--write-bytes must be whole units of --size, at most %u", POOL_BYTES / 2);
  }
  if (max_pending == 0) max_pending = 1;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  /* Best effort: without the privilege the process runs at the default priority, and says so. */
  if (nice_value != 0 && setpriority(PRIO_PROCESS, 0, nice_value) != 0)
    fprintf(stderr, "loadgen[%u]: could not set nice %d: %s\n", proc_index, nice_value, strerror(errno));
  alarm(max_seconds); /* the default action of SIGALRM ends the process: a hard bound on its life */
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
    if (tx == NULL) die("out of memory");
    for (uint32_t i = 0; i < nconns; i++) conns[i].tx = tx + (size_t)i * msg_size;
  }
  for (uint32_t i = 0; i < total_conns; i++) conns[i].round = 1;

  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev) < 0) die("epoll on stdin: %s", strerror(errno));

  struct epoll_event events[MAX_EVENTS];
  while (phase != P_DONE) {
    uint64_t now = mono_ns();
    advance(now);
    if (phase == P_DONE) break;
    uint64_t wait = wait_ns(mono_ns());
    struct timespec timeout = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
    int n = epoll_pwait2(ep, events, MAX_EVENTS, &timeout, NULL);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      uint32_t ev = events[i].events;
      if (tag == STDIN_TAG) {
        on_stdin();
        continue;
      }
      uint32_t idx = (uint32_t)tag;
      struct conn *c = &conns[idx];
      if (c->state == C_CONNECTING) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connect_ready(c, idx);
        continue;
      }
      if (c->state != C_OPEN) continue;
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(c, idx);
      if (c->state != C_OPEN || !(ev & EPOLLOUT)) continue;
      if (mode == MODE_INGEST) ingest_write(c, idx);
      else if (mode == MODE_RATE && phase >= P_RUN) rate_try_write(c, idx);
      else if (c->in_flight) try_write(c, idx);
    }
  }
  emit_result();
  reset_all();
  return verify_errors || conn_errors ? 1 : 0;
}
