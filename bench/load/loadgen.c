// Flamingo's load generator: one single-threaded epoll process that opens up
// to ~19,000 client connections and drives them in one of four modes.
//
// In every mode each new connection first echoes one message (a 16-byte
// ping in idle and fanout mode), and at most --max-pending connections are
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
//   stdin:  start <window_start_ns> <window_end_ns>   (echo, bulk)
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

enum mode { MODE_IDLE, MODE_ECHO, MODE_BULK, MODE_FANOUT };
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
  uint8_t *tx;       /* echo: the message in flight */
};

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
       mode == MODE_FANOUT ? c->round : c->seq, c->rx_off, what, detail);
  close_conn(c);
}

static void start_connect(uint32_t idx) {
  struct conn *c = &conns[idx];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
  if (idx != ctrl_idx) send_message(c, idx); /* the ping that confirms it */
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
         "\"cpu_s\":%.6f,\"cpu_window_s\":%.6f,\"wall_s\":%.3f,\"hist\":[",
         proc_index, (int)mode, nconns, connected, open_conns - (ctrl_idx != UINT32_MAX && conns[ctrl_idx].state == C_OPEN),
         (double)(t_connected - t_begin) / 1e9, (unsigned long long)messages, (unsigned long long)window_bytes,
         (unsigned long long)messages_total, (unsigned long long)bytes_rx_total,
         (double)(window_end - window_start) / 1e9, (unsigned long long)verify_errors, (unsigned long long)conn_errors,
         first_verify_error, first_conn_error, (unsigned long long)(messages ? lat_min : 0),
         (unsigned long long)hist_percentile(0.5), (unsigned long long)hist_percentile(0.99),
         (unsigned long long)hist_percentile(0.999), (unsigned long long)lat_max, cpu_seconds(),
         cpu_window_end >= 0 && cpu_window_start >= 0 ? cpu_window_end - cpu_window_start : 0.0,
         (double)(now - t_begin) / 1e9);
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
    for (uint32_t i = 0; i < nconns; i++)
      if (conns[i].state == C_OPEN) {
        conns[i].seq++;
        send_message(&conns[i], i);
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
    if (now >= window_end) {
      cpu_window_end = cpu_seconds();
      phase = P_DRAIN;
      phase_deadline = now + (uint64_t)(drain_timeout_s * 1e9);
    }
    return;
  }
  if (phase == P_DRAIN) {
    if (in_flight == 0) phase = P_DONE;
    else if (now >= phase_deadline) {
      for (uint32_t i = 0; i < nconns; i++)
        if (conns[i].in_flight) conn_lost(&conns[i], i, "echo not back within the drain timeout", 0);
      phase = P_DONE;
    }
  }
}

static int wait_ms(uint64_t now) {
  uint64_t next = now + 100000000ull; /* wake at least every 100 ms */
  if (phase == P_CONNECT && connect_deadline < next) next = connect_deadline;
  if ((phase == P_PING || phase == P_DRAIN) && phase_deadline < next) next = phase_deadline;
  if (phase == P_RUN) {
    if (cpu_window_start < 0 && window_start < next) next = window_start;
    if (window_end < next) next = window_end;
  }
  if (next <= now) return 0;
  return (int)((next - now + 999999) / 1000000);
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode idle|echo|bulk|fanout --port P --conns N [--size BYTES] [--host 127.0.0.1]\n"
          "               [--src-base 2] [--src-count 4] [--index K] [--trigger] [--max-pending 200]\n"
          "               [--connect-timeout 90] [--drain-timeout 10] [--ping-timeout 30] [--max-seconds 600]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  const char *mode_name = NULL, *host = "127.0.0.1";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--trigger") == 0) { has_trigger = 1; continue; }
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
    else usage();
  }
  if (mode_name == NULL) usage();
  if (strcmp(mode_name, "idle") == 0) mode = MODE_IDLE;
  else if (strcmp(mode_name, "echo") == 0) mode = MODE_ECHO;
  else if (strcmp(mode_name, "bulk") == 0) mode = MODE_BULK;
  else if (strcmp(mode_name, "fanout") == 0) mode = MODE_FANOUT;
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
  if (max_pending == 0) max_pending = 1;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
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
    int n = epoll_wait(ep, events, MAX_EVENTS, wait_ms(mono_ns()));
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
      if (c->state == C_OPEN && (ev & EPOLLOUT) && c->in_flight) try_write(c, idx);
    }
  }
  emit_result();
  reset_all();
  return verify_errors || conn_errors ? 1 : 0;
}
