// The cluster benchmark's clients (bench/cluster/run.ts): one single-threaded
// epoll process, in one of two modes, speaking the demo's line protocol
// (examples/echo.ts --framing delimiter: lines end in \n).
//
//   sub  opens --conns connections; connection i subscribes to topic
//        t<(first + i) % topics> ("SUB t<k>", then waits for "OK SUB t<k>"),
//        at most --max-pending unconfirmed at a time. Then it only reads:
//        every line must be a payload of its own topic (below), sequence
//        numbers 1, 2, 3, ... in order. A gap counts as missing, a number
//        already seen (or older) as duplicate, a malformed payload or one that
//        fails its check as corrupt, a well-formed payload of another topic
//        as misrouted. The publish-to-delivery latency of every payload
//        stamped inside the measured window goes into a log-linear histogram.
//   pub  opens --conns connections and reports their local ports, so the
//        orchestrator can tell which server process each landed on; keeps
//        the ones it is told to use; then paces "PUB t<k> <payload>" lines
//        at a fixed rate, topics in turn, each topic always on the same
//        connection (so its sequence numbers stay in order on one path).
//
// A payload is exactly 64 bytes of text (65 on the wire with its \n):
//   TTTT:SSSSSSSSSS:XXXXXXXXXXXXXXXX:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC
//   topic (4 decimal digits), per-topic sequence (10 decimal digits, from 1),
//   CLOCK_MONOTONIC ns at the publish (16 hex digits), and 31 hex digits of a
//   hash of all three, so a changed byte anywhere fails the check.
// CLOCK_MONOTONIC is system-wide: the publisher and the subscribers on one
// machine read the same clock.
//
// Protocol with the orchestrator: commands on stdin, one per line; events on
// stdout, one JSON object per line.
//   sub stdin:  window <start_ns> <end_ns>      start a measured window (resets its counters)
//               check <final> <c0> ... <cT-1>  the publisher's per-topic counts so far: wait
//                                              (at most --drain-timeout s) until every connection
//                                              has them all, report "checked"; with final=1 the
//                                              shortfall counts as missing and "result" follows
//       stdout: subscribed, checked, result
//   pub stdin:  use <i> <j> ...                 keep these connections, close the others
//               run <per_second> <start_ns> <end_ns>   publish at this rate in [start, end)
//               quit
//       stdout: connected (with "ports"), published (with cumulative per-topic "counts"), result
//
// --proto resp speaks RESP2 instead (redis-server, examples/pubsub; used by
// bench/pubsub/run.ts), with the same checks and the same payload:
//   sub  sends *2 SUBSCRIBE t<k>, waits for its confirmation
//        (*3 $9 subscribe $n t<k> :1), then every push must be
//        *3 $7 message $n t<k> $64 <payload>. Channel names and payloads hold
//        no CR or LF, so every RESP element arrives as one CRLF-terminated
//        line: the line splitter below (which keeps partial lines across
//        reads) feeds a small per-connection state machine that checks each
//        array's header, each bulk length against its line, and the channel.
//   pub  sends *3 PUBLISH t<k> <payload> and reads the integer replies
//        (":n"; a "-ERR" line counts as an error line).
//
// The connection options, sockets (closed with a reset: no TIME_WAIT), the
// event loop (end of stdin or --max-seconds ends the process) and the latency
// histogram are bench/common/epoll-client.h, shared with bench/load/loadgen.c.
//
// Build: cc -O2 -Wall -o subgen bench/cluster/subgen.c -lm

#include "../common/epoll-client.h"

#include <math.h>

#define MAX_TOPICS 1000
#define MAX_USE 64
#define PAYLOAD 64
#define RX_LINE 128 /* a connection's partial line; longer lines are corrupt */
#define PUB_OUT_BYTES (1 << 20)
#define PUB_MAX_LINE 160 /* one publish on the wire, either protocol, at most */

enum mode { MODE_SUB, MODE_PUB };
enum proto { PROTO_LINE, PROTO_RESP };
/* RESP sub: where a connection is within the array being received. */
enum resp_kind { R_NONE, R_SUBSCRIBE, R_MESSAGE };
enum conn_state { C_UNSTARTED, C_CONNECTING, C_SUBSCRIBING, C_OPEN, C_CLOSED };
enum phase { P_CONNECT, P_READY, P_RUN, P_CHECK, P_DONE };
static const char *const phase_names[] = {"connect", "ready", "run", "check", "done"};

struct conn {
  int fd;
  uint8_t state;
  uint8_t rx_len;
  uint8_t rx_skip; /* discarding the rest of an over-long line */
  uint8_t want_out;
  uint16_t topic;
  uint16_t local_port;
  uint32_t next_seq; /* sub: the sequence number expected next */
  /* RESP sub: elements of the current array still due (0: expecting an array header), the element's index,
     the length announced by the last $ line (-1: none), and what the array is. */
  uint8_t resp_left, resp_elem, resp_kind;
  int16_t resp_bulk;
  char rx[RX_LINE];
};

/* Options. */
static int mode; /* enum mode */
static int proto; /* enum proto */
static uint32_t topics, first_global;

/* State. */
static struct conn *conns;
static enum phase phase = P_CONNECT;
static uint8_t *rbuf;
static uint32_t next_to_connect, pending, subscribed, open_conns, connect_failed;
static uint64_t t_begin, t_connected, connect_deadline, check_deadline, check_started;
static uint64_t conn_errors, verify_errors;
static char first_conn_error[ERROR_TEXT], first_verify_error[ERROR_TEXT], first_err_line[ERROR_TEXT];

/* sub: counts. */
static uint64_t delivered, missing, duplicate, corrupt, misrouted, err_lines;
static uint64_t window_start, window_end, window_deliveries, window_stamped;
static struct latency window_latency; /* of the payloads stamped inside the window */
static uint32_t targets[MAX_TOPICS];
static int check_final;

/* pub: state. */
static uint32_t use_idx[MAX_USE], nuse;
static uint8_t *out_buf[MAX_USE];
static uint32_t out_len[MAX_USE], out_off[MAX_USE];
static uint32_t pub_seq[MAX_TOPICS];
static uint64_t pub_total, run_sent, run_start, run_end, run_blocked, run_lag_max;
static double run_rate;
static uint64_t pub_lines_in;

static const char HEX[] = "0123456789abcdef";

/* The 31 check digits of (topic, seq, ts). */
static void payload_check(uint32_t topic, uint32_t seq, uint64_t ts, char *out) {
  uint64_t a = splitmix64(((uint64_t)topic << 32 | seq) ^ 0x466c616d696e676full);
  uint64_t b = splitmix64(a ^ ts);
  for (int i = 0; i < 16; i++) out[i] = HEX[(a >> (60 - 4 * i)) & 15];
  for (int i = 0; i < 15; i++) out[16 + i] = HEX[(b >> (60 - 4 * i)) & 15];
}

static void make_payload(uint32_t topic, uint32_t seq, uint64_t ts, char *p) {
  uint32_t t = topic, s = seq;
  for (int i = 3; i >= 0; i--) p[i] = (char)('0' + t % 10), t /= 10;
  p[4] = ':';
  for (int i = 14; i >= 5; i--) p[i] = (char)('0' + s % 10), s /= 10;
  p[15] = ':';
  for (int i = 0; i < 16; i++) p[16 + i] = HEX[(ts >> (60 - 4 * i)) & 15];
  p[32] = ':';
  payload_check(topic, seq, ts, p + 33);
}

static int parse_dec(const char *p, int n, uint32_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    v = v * 10 + (uint64_t)(p[i] - '0');
  }
  if (v > UINT32_MAX) return 0;
  *out = (uint32_t)v;
  return 1;
}

static int parse_hex(const char *p, int n, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 1;
}

/* 1 and the fields when `p` is a well-formed payload whose check digits match. */
static int parse_payload(const char *p, uint32_t *topic, uint32_t *seq, uint64_t *ts) {
  if (p[4] != ':' || p[15] != ':' || p[32] != ':') return 0;
  if (!parse_dec(p, 4, topic) || !parse_dec(p + 5, 10, seq) || !parse_hex(p + 16, 16, ts)) return 0;
  char check[31];
  payload_check(*topic, *seq, *ts, check);
  return memcmp(check, p + 33, 31) == 0;
}

/* Closes with a reset (SO_LINGER 0): no TIME_WAIT anywhere. */
static void close_conn(struct conn *c) {
  if (c->state == C_CLOSED || c->state == C_UNSTARTED) return;
  close_with_reset(c->fd);
  if (c->state == C_CONNECTING || c->state == C_SUBSCRIBING) pending--;
  if (c->state == C_OPEN || c->state == C_SUBSCRIBING) open_conns--;
  c->state = C_CLOSED;
}

static void reset_all(void) {
  for (uint32_t i = 0; conns != NULL && i < nconns; i++) close_conn(&conns[i]);
}

static void conn_lost(struct conn *c, uint32_t idx, const char *what, int err) {
  conn_errors++;
  note(first_conn_error, "connection %u (%s phase): %s%s%s", idx, phase_names[phase], what, err ? ": " : "", err ? strerror(err) : "");
  if (c->state == C_CONNECTING) connect_failed++;
  close_conn(c);
}

static void start_connect(uint32_t idx) {
  struct conn *c = &conns[idx];
  int err;
  c->fd = open_connection(idx, 0, &err);
  c->state = C_CONNECTING;
  pending++;
  if (err != 0) conn_lost(c, idx, "connect", err);
}

/* Writes a whole short line at once (a SUB line on a fresh connection always fits in its socket buffer). */
static void send_short(struct conn *c, uint32_t idx, const char *text, size_t n) {
  ssize_t w = send(c->fd, text, n, MSG_NOSIGNAL);
  if (w != (ssize_t)n) conn_lost(c, idx, "send", w < 0 ? errno : 0);
}

static void on_connect_ready(struct conn *c, uint32_t idx) {
  int err = connect_error(c->fd);
  if (err != 0) {
    conn_lost(c, idx, "connect", err);
    return;
  }
  struct sockaddr_in local;
  socklen_t llen = sizeof local;
  if (getsockname(c->fd, (struct sockaddr *)&local, &llen) == 0) c->local_port = ntohs(local.sin_port);
  watch(c->fd, idx, EPOLLIN | EPOLLRDHUP);
  if (mode == MODE_PUB) {
    c->state = C_OPEN;
    pending--;
    open_conns++;
    return;
  }
  c->state = C_SUBSCRIBING;
  open_conns++;
  char line[64], chan[16];
  int cn = snprintf(chan, sizeof chan, "t%u", c->topic);
  int n = proto == PROTO_RESP ? snprintf(line, sizeof line, "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", cn, chan)
                              : snprintf(line, sizeof line, "SUB t%u\n", c->topic);
  send_short(c, idx, line, (size_t)n);
}

static void sub_payload(struct conn *c, uint32_t idx, const char *p, uint32_t n);
static void sub_resp_line(struct conn *c, uint32_t idx, const char *p, uint32_t n);
static void resp_bad(struct conn *c, uint32_t idx, const char *why, const char *p, uint32_t n);

static void sub_line(struct conn *c, uint32_t idx, const char *p, uint32_t n) {
  if (proto == PROTO_RESP) {
    if (n == 0 || p[n - 1] != '\r') {
      resp_bad(c, idx, "a line without CR", p, n);
      return;
    }
    sub_resp_line(c, idx, p, n - 1);
    return;
  }
  if (n > 0 && p[n - 1] == '\r') n--;
  if (c->state == C_SUBSCRIBING) {
    char want[32];
    int w = snprintf(want, sizeof want, "OK SUB t%u", c->topic);
    if (n == (uint32_t)w && memcmp(p, want, n) == 0) {
      c->state = C_OPEN;
      pending--;
      subscribed++;
      return;
    }
    if (n >= 3 && memcmp(p, "ERR", 3) == 0) {
      err_lines++;
      note(first_err_line, "%.*s", (int)(n < 150 ? n : 150), p);
      conn_lost(c, idx, "ERR reply to SUB", 0);
      return;
    }
    verify_errors++;
    note(first_verify_error, "connection %u: unexpected line before OK SUB t%u: %.*s", idx, c->topic, (int)(n < 100 ? n : 100), p);
    close_conn(c);
    return;
  }
  if (n == PAYLOAD) {
    sub_payload(c, idx, p, n);
    return;
  }
  if (n >= 3 && memcmp(p, "ERR", 3) == 0) {
    err_lines++;
    note(first_err_line, "%.*s", (int)(n < 150 ? n : 150), p);
    return;
  }
  corrupt++;
  note(first_verify_error, "connection %u topic %u: unexpected line of %u bytes: %.*s", idx, c->topic, n, (int)(n < 80 ? n : 80), p);
}

/* One delivered payload (PAYLOAD bytes): checked, counted, timed. */
static void sub_payload(struct conn *c, uint32_t idx, const char *p, uint32_t n) {
  {
    uint32_t topic, seq;
    uint64_t ts;
    if (!parse_payload(p, &topic, &seq, &ts)) {
      corrupt++;
      note(first_verify_error, "connection %u topic %u: corrupt payload %.*s", idx, c->topic, (int)n, p);
      return;
    }
    if (topic != c->topic) {
      misrouted++;
      note(first_verify_error, "connection %u topic %u: got topic %u seq %u", idx, c->topic, topic, seq);
      return;
    }
    uint64_t now = mono_ns();
    delivered++;
    if (seq == c->next_seq) {
      c->next_seq++;
    } else if (seq > c->next_seq) {
      missing += seq - c->next_seq;
      note(first_verify_error, "connection %u topic %u: seq %u after %u (gap of %u)", idx, c->topic, seq, c->next_seq - 1, seq - c->next_seq);
      c->next_seq = seq + 1;
    } else {
      duplicate++;
      note(first_verify_error, "connection %u topic %u: seq %u again or late (next expected %u)", idx, c->topic, seq, c->next_seq);
    }
    if (now >= window_start && now < window_end) window_deliveries++;
    if (ts >= window_start && ts < window_end) {
      latency_add(&window_latency, now > ts ? now - ts : 0);
      window_stamped++;
    }
  }
}

/* RESP sub: a malformed or unexpected element. Before the confirmation the connection is closed (as in line mode). */
static void resp_bad(struct conn *c, uint32_t idx, const char *why, const char *p, uint32_t n) {
  if (n > 0 && p[0] == '-') {
    err_lines++;
    note(first_err_line, "%.*s", (int)(n < 150 ? n : 150), p);
  }
  if (c->state == C_SUBSCRIBING) {
    verify_errors++;
    note(first_verify_error, "connection %u: %s before the SUBSCRIBE confirmation: %.*s", idx, why, (int)(n < 100 ? n : 100), p);
    close_conn(c);
    return;
  }
  corrupt++;
  note(first_verify_error, "connection %u topic %u: %s: %.*s", idx, c->topic, why, (int)(n < 80 ? n : 80), p);
  c->resp_left = 0; /* resynchronise at the next array header */
  c->resp_bulk = -1;
}

/* RESP sub: one CRLF-terminated line (without its CRLF). */
static void sub_resp_line(struct conn *c, uint32_t idx, const char *p, uint32_t n) {
  if (c->resp_left == 0) {
    c->resp_bulk = -1;
    if (n == 2 && p[0] == '*' && p[1] == '3') {
      c->resp_left = 3;
      c->resp_elem = 0;
      c->resp_kind = R_NONE;
      return;
    }
    resp_bad(c, idx, "not a 3-element array header", p, n);
    return;
  }
  if (c->resp_bulk < 0) {
    /* A $ length line, or the integer that ends a subscribe confirmation. */
    if (c->resp_kind == R_SUBSCRIBE && c->resp_elem == 2) {
      if (n >= 2 && p[0] == ':') {
        c->resp_left = 0;
        if (c->state == C_SUBSCRIBING) {
          c->state = C_OPEN;
          pending--;
          subscribed++;
        }
        return;
      }
      resp_bad(c, idx, "no subscription count", p, n);
      return;
    }
    uint32_t len;
    if (n >= 2 && n <= 4 && p[0] == '$' && parse_dec(p + 1, (int)n - 1, &len) && len < RX_LINE) {
      c->resp_bulk = (int16_t)len;
      return;
    }
    resp_bad(c, idx, "expected a bulk string length", p, n);
    return;
  }
  if ((uint32_t)c->resp_bulk != n) {
    resp_bad(c, idx, "bulk string of the wrong length", p, n);
    return;
  }
  c->resp_bulk = -1;
  uint32_t elem = c->resp_elem++;
  c->resp_left--;
  if (elem == 0) {
    if (n == 7 && memcmp(p, "message", 7) == 0 && c->state == C_OPEN) c->resp_kind = R_MESSAGE;
    else if (n == 9 && memcmp(p, "subscribe", 9) == 0 && c->state == C_SUBSCRIBING) c->resp_kind = R_SUBSCRIBE;
    else resp_bad(c, idx, "unexpected push kind", p, n);
    return;
  }
  if (elem == 1) {
    char chan[16];
    int cn = snprintf(chan, sizeof chan, "t%u", c->topic);
    if (n != (uint32_t)cn || memcmp(p, chan, n) != 0) {
      if (c->resp_kind == R_MESSAGE) {
        misrouted++;
        note(first_verify_error, "connection %u topic %u: a message on channel %.*s", idx, c->topic, (int)(n < 20 ? n : 20), p);
        c->resp_kind = R_NONE; /* skip its payload */
        return;
      }
      resp_bad(c, idx, "confirmation of another channel", p, n);
    }
    return;
  }
  /* elem 2 of a message: the payload. */
  if (c->resp_kind == R_MESSAGE) {
    if (n == PAYLOAD) sub_payload(c, idx, p, n);
    else resp_bad(c, idx, "payload of the wrong size", p, n);
  }
}

static void pub_line(const char *p, uint32_t n) {
  pub_lines_in++;
  if (n > 0 && p[n - 1] == '\r') n--;
  if ((n >= 3 && memcmp(p, "ERR", 3) == 0) || (proto == PROTO_RESP && n > 0 && p[0] == '-')) err_lines++;
  note(first_err_line, "%.*s", (int)(n < 150 ? n : 150), p);
}

/* Splits what arrived into lines, keeping a partial line in the connection. */
static void on_bytes(struct conn *c, uint32_t idx, const uint8_t *data, uint32_t n) {
  const char *p = (const char *)data, *end = p + n;
  while (p < end && c->state != C_CLOSED) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    uint32_t take = (uint32_t)((nl ? nl : end) - p);
    if (c->rx_skip) {
      if (nl) c->rx_skip = 0;
    } else if (c->rx_len + take >= RX_LINE) {
      corrupt++;
      note(first_verify_error, "connection %u topic %u: a line longer than %u bytes", idx, c->topic, RX_LINE);
      c->rx_len = 0;
      c->rx_skip = nl == NULL;
    } else if (nl == NULL) {
      memcpy(c->rx + c->rx_len, p, take);
      c->rx_len += (uint8_t)take;
    } else if (c->rx_len == 0) {
      if (mode == MODE_SUB) sub_line(c, idx, p, take);
      else pub_line(p, take);
    } else {
      memcpy(c->rx + c->rx_len, p, take);
      uint32_t len = c->rx_len + take;
      c->rx_len = 0;
      if (mode == MODE_SUB) sub_line(c, idx, c->rx, len);
      else pub_line(c->rx, len);
    }
    p += take + (nl ? 1 : 0);
  }
}

static void on_readable(struct conn *c, uint32_t idx) {
  for (int reads = 0; reads < 4 && c->state != C_CLOSED; reads++) {
    ssize_t n = recv(c->fd, rbuf, READ_BYTES, 0);
    if (n == 0) {
      conn_lost(c, idx, "closed by the server (EOF)", 0);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) conn_lost(c, idx, "recv", errno);
      return;
    }
    on_bytes(c, idx, rbuf, (uint32_t)n);
    if (n < READ_BYTES) return;
  }
}

static void emit_connected(void) {
  if (mode == MODE_SUB) {
    printf("{\"event\":\"subscribed\",\"index\":%u,\"subscribed\":%u,\"failed\":%u,\"errors\":%llu,\"first_error\":\"%s\",\"connect_s\":%.3f,"
           "\"cpu_s\":%.6f}\n",
           proc_index, subscribed, connect_failed, (unsigned long long)(conn_errors + verify_errors),
           first_conn_error[0] ? first_conn_error : first_verify_error, (double)(t_connected - t_begin) / 1e9, cpu_seconds());
  } else {
    printf("{\"event\":\"connected\",\"index\":%u,\"connected\":%u,\"errors\":%llu,\"first_error\":\"%s\",\"ports\":[", proc_index, open_conns,
           (unsigned long long)conn_errors, first_conn_error);
    for (uint32_t i = 0; i < nconns; i++) printf("%s%u", i ? "," : "", conns[i].state == C_OPEN ? conns[i].local_port : 0);
    printf("]}\n");
  }
  fflush(stdout);
}

/* Shortfall against the per-topic targets: deliveries not (yet) there, the connections behind, and of those the open ones. */
static uint64_t shortfall(uint32_t *behind, uint32_t *open_behind) {
  uint64_t total = 0;
  *behind = *open_behind = 0;
  for (uint32_t i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    uint32_t want = targets[c->topic];
    uint32_t have = c->next_seq - 1;
    if (have < want) {
      total += want - have;
      (*behind)++;
      if (c->state == C_OPEN) (*open_behind)++;
    }
  }
  return total;
}

static uint64_t expected_total(void) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < nconns; i++) total += targets[conns[i].topic];
  return total;
}

static void emit_checked(uint64_t now) {
  uint32_t behind, open_behind;
  uint64_t short_by = shortfall(&behind, &open_behind);
  printf("{\"event\":\"checked\",\"index\":%u,\"final\":%d,\"behind_conns\":%u,\"shortfall\":%llu,\"drain_s\":%.3f,\"expected\":%llu,"
         "\"delivered\":%llu,\"missing\":%llu,\"duplicate\":%llu,\"corrupt\":%llu,\"misrouted\":%llu,\"err_lines\":%llu,"
         "\"conn_errors\":%llu,\"verify_errors\":%llu,\"open\":%u,\"window_deliveries\":%llu,\"window_stamped\":%llu,"
         "\"cpu_s\":%.6f,",
         proc_index, check_final, behind, (unsigned long long)short_by, (double)(now - check_started) / 1e9, (unsigned long long)expected_total(),
         (unsigned long long)delivered, (unsigned long long)missing, (unsigned long long)duplicate, (unsigned long long)corrupt,
         (unsigned long long)misrouted, (unsigned long long)err_lines, (unsigned long long)conn_errors, (unsigned long long)verify_errors, open_conns,
         (unsigned long long)window_deliveries, (unsigned long long)window_stamped, cpu_seconds());
  print_latency(&window_latency);
  printf("}\n");
  fflush(stdout);
  if (check_final) {
    missing += short_by;
    phase = P_DONE;
  } else {
    phase = P_RUN;
  }
}

static void emit_result(void) {
  uint64_t now = mono_ns();
  printf("{\"event\":\"result\",\"mode\":\"%s\",\"index\":%u,\"conns\":%u,\"subscribed\":%u,\"open_at_end\":%u,\"connect_s\":%.3f,"
         "\"expected\":%llu,\"delivered\":%llu,\"missing\":%llu,\"duplicate\":%llu,\"corrupt\":%llu,\"misrouted\":%llu,\"err_lines\":%llu,"
         "\"conn_errors\":%llu,\"verify_errors\":%llu,\"first_conn_error\":\"%s\",\"first_verify_error\":\"%s\",\"first_err_line\":\"%s\","
         "\"published\":%llu,\"lines_in\":%llu,\"cpu_s\":%.6f,\"wall_s\":%.3f}\n",
         mode == MODE_PUB ? "pub" : "sub", proc_index, nconns, subscribed, open_conns, (double)(t_connected - t_begin) / 1e9,
         (unsigned long long)(mode == MODE_SUB ? expected_total() : 0), (unsigned long long)delivered, (unsigned long long)missing,
         (unsigned long long)duplicate, (unsigned long long)corrupt, (unsigned long long)misrouted, (unsigned long long)err_lines,
         (unsigned long long)conn_errors, (unsigned long long)verify_errors, first_conn_error, first_verify_error, first_err_line,
         (unsigned long long)pub_total, (unsigned long long)pub_lines_in, cpu_seconds(), (double)(now - t_begin) / 1e9);
  fflush(stdout);
}

/* pub: flushes one used connection's queued lines as far as its socket takes them. */
static void pub_flush(uint32_t u) {
  struct conn *c = &conns[use_idx[u]];
  int sent = c->state == C_OPEN ? send_some(c->fd, out_buf[u], out_len[u], &out_off[u]) : 1;
  if (sent == 0) {
    if (!c->want_out) watch(c->fd, use_idx[u], EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    c->want_out = 1;
    return;
  }
  if (sent < 0) {
    conn_lost(c, use_idx[u], "send", -sent);
    return;
  }
  out_off[u] = out_len[u] = 0;
  if (c->want_out && c->state == C_OPEN) watch(c->fd, use_idx[u], EPOLLIN | EPOLLRDHUP);
  c->want_out = 0;
}

/* pub: queues the publishes that are due by `now`, then writes them out. */
static void pub_tick(uint64_t now) {
  if (phase != P_RUN || now < run_start) return;
  uint64_t until = now < run_end ? now : run_end;
  uint64_t due = (uint64_t)((double)(until - run_start) * run_rate / 1e9) + 1;
  /* Publish k is due at run_start + k / rate, for every k before run_end. */
  if (now >= run_end) due = (uint64_t)ceil((double)(run_end - run_start) * run_rate / 1e9);
  while (run_sent < due) {
    uint32_t topic = (uint32_t)(pub_total % topics);
    uint32_t u = topic % nuse;
    if (out_len[u] + PUB_MAX_LINE > PUB_OUT_BYTES) {
      run_blocked++;
      break;
    }
    uint64_t lag = now - (run_start + (uint64_t)((double)run_sent * 1e9 / run_rate));
    if (lag > run_lag_max && run_sent > 0) run_lag_max = lag;
    char *p = (char *)out_buf[u] + out_len[u];
    int head;
    if (proto == PROTO_RESP) {
      char chan[16];
      int cn = snprintf(chan, sizeof chan, "t%u", topic);
      head = sprintf(p, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n", cn, chan, PAYLOAD);
    } else {
      head = sprintf(p, "PUB t%u ", topic);
    }
    make_payload(topic, ++pub_seq[topic], mono_ns(), p + head);
    uint32_t len = (uint32_t)head + PAYLOAD;
    if (proto == PROTO_RESP) p[len++] = '\r';
    p[len++] = '\n';
    out_len[u] += len;
    run_sent++;
    pub_total++;
  }
  for (uint32_t u = 0; u < nuse; u++)
    if (out_len[u] > out_off[u] && !conns[use_idx[u]].want_out) pub_flush(u);
  if (now >= run_end && run_sent >= due) {
    int all_out = 1;
    for (uint32_t u = 0; u < nuse; u++)
      if (out_len[u] > out_off[u] && conns[use_idx[u]].state == C_OPEN) all_out = 0;
    if (!all_out) return;
    printf("{\"event\":\"published\",\"index\":%u,\"sent\":%llu,\"total\":%llu,\"blocked\":%llu,\"lag_max_ns\":%llu,\"conn_errors\":%llu,"
           "\"lines_in\":%llu,\"err_lines\":%llu,\"first_line_in\":\"%s\",\"cpu_s\":%.6f,\"counts\":[",
           proc_index, (unsigned long long)run_sent, (unsigned long long)pub_total, (unsigned long long)run_blocked,
           (unsigned long long)run_lag_max, (unsigned long long)conn_errors, (unsigned long long)pub_lines_in, (unsigned long long)err_lines,
           first_err_line, cpu_seconds());
    for (uint32_t t = 0; t < topics; t++) printf("%s%u", t ? "," : "", pub_seq[t]);
    printf("]}\n");
    fflush(stdout);
    phase = P_READY;
  }
}

static void cmd_use(char *args) {
  uint8_t keep[MAX_CONNS] = {0};
  nuse = 0;
  for (char *tok = strtok(args, " "); tok != NULL; tok = strtok(NULL, " ")) {
    uint32_t i = (uint32_t)atol(tok);
    if (i >= nconns || conns[i].state != C_OPEN) die("use: connection %u is not open", i);
    if (nuse == MAX_USE) die("use: at most %u connections", MAX_USE);
    if (keep[i]) continue;
    keep[i] = 1;
    use_idx[nuse] = i;
    out_buf[nuse] = malloc(PUB_OUT_BYTES);
    if (out_buf[nuse] == NULL) die("out of memory");
    nuse++;
  }
  if (nuse == 0) die("use: no connection named");
  for (uint32_t i = 0; i < nconns; i++)
    if (!keep[i]) {
      if (conns[i].state == C_OPEN) open_conns--;
      if (conns[i].state != C_CLOSED && conns[i].state != C_UNSTARTED) close_with_reset(conns[i].fd);
      conns[i].state = C_CLOSED;
    }
  printf("{\"event\":\"using\",\"index\":%u,\"conns\":%u}\n", proc_index, nuse);
  fflush(stdout);
}

static void parse_counts(char *args) {
  uint32_t t = 0;
  for (char *tok = strtok(args, " "); tok != NULL; tok = strtok(NULL, " ")) {
    if (t >= topics) die("check: more counts than topics");
    targets[t++] = (uint32_t)strtoul(tok, NULL, 10);
  }
  if (t != topics) die("check: %u counts for %u topics", t, topics);
}

static void on_command(char *line) {
  unsigned long long a, b;
  double rate;
  int final, off = 0;
  if (mode == MODE_SUB && sscanf(line, "window %llu %llu", &a, &b) == 2 && (phase == P_READY || phase == P_RUN)) {
    window_start = a;
    window_end = b;
    window_deliveries = window_stamped = 0;
    latency_reset(&window_latency);
    phase = P_RUN;
  } else if (mode == MODE_SUB && sscanf(line, "check %d %n", &final, &off) == 1 && off > 0 && (phase == P_READY || phase == P_RUN)) {
    parse_counts(line + off);
    check_final = final;
    check_started = mono_ns();
    check_deadline = check_started + (uint64_t)(drain_timeout_s * 1e9);
    phase = P_CHECK;
  } else if (mode == MODE_PUB && strncmp(line, "use ", 4) == 0 && phase == P_READY && nuse == 0) {
    cmd_use(line + 4);
  } else if (mode == MODE_PUB && sscanf(line, "run %lf %llu %llu", &rate, &a, &b) == 3 && phase == P_READY && nuse > 0) {
    if (!(rate > 0) || b <= a) die("run: bad rate or window");
    run_rate = rate;
    run_start = a;
    run_end = b;
    run_sent = run_blocked = run_lag_max = 0;
    phase = P_RUN;
  } else if (mode == MODE_PUB && strcmp(line, "quit") == 0) {
    phase = P_DONE;
  } else {
    die("unexpected command in the %s phase: %.100s", phase_names[phase], line);
  }
}

/* Moves between phases on counts and deadlines. */
static void advance(uint64_t now) {
  if (phase == P_CONNECT) {
    while (pending < max_pending && next_to_connect < nconns) start_connect(next_to_connect++);
    if (now >= connect_deadline) {
      note(first_conn_error, "connect phase timed out after %.0f s", connect_timeout_s);
      for (uint32_t i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_UNSTARTED) c->state = C_CLOSED, connect_failed++, conn_errors++;
        else if (c->state == C_CONNECTING) conn_lost(c, i, "connect timed out", 0);
        else if (c->state == C_SUBSCRIBING) conn_lost(c, i, "no OK SUB before the connect deadline", 0);
      }
      next_to_connect = nconns;
    }
    if (next_to_connect < nconns || pending > 0) return;
    t_connected = now;
    phase = P_READY;
    emit_connected();
    return;
  }
  if (mode == MODE_PUB) {
    pub_tick(now);
    return;
  }
  if (phase == P_CHECK) {
    /* Lost connections never catch up: wait only for the open ones. */
    uint32_t behind, open_behind;
    shortfall(&behind, &open_behind);
    if (now >= check_deadline || open_behind == 0) emit_checked(now);
  }
}

static uint64_t wait_ns(uint64_t now) {
  uint64_t next = now + 100000000ull; /* wake at least every 100 ms */
  if (phase == P_CONNECT && connect_deadline < next) next = connect_deadline;
  if (phase == P_CHECK) next = now + 5000000ull; /* re-check every 5 ms */
  if (mode == MODE_PUB && phase == P_RUN) {
    if (now < run_start) next = run_start;
    else {
      uint64_t due = run_start + (uint64_t)((double)(run_sent + 1) * 1e9 / run_rate);
      next = due < run_end ? due : run_end;
      if (next > now + 100000000ull) next = now + 100000000ull;
    }
  }
  return next > now ? next - now : 0;
}

static const char *const mode_names[] = {"sub", "pub", NULL};
static const char *const proto_names[] = {"line", "resp", NULL};

static const struct option_spec options[] = {
    {"--mode", OPT_CHOICE, &mode, NULL, "sub: subscribe and check every line; pub: publish (required)", mode_names},
    {"--proto", OPT_CHOICE, &proto, "line", "line: the echo demo's SUB/PUB lines; resp: Redis SUBSCRIBE/PUBLISH (RESP2)", proto_names},
    {"--topics", OPT_U32, &topics, "100", "topics, 1..1000", NULL},
    {"--first", OPT_U32, &first_global, "0", "connection i subscribes to t<(first + i) % topics>", NULL},
    CONNECTION_OPTIONS("8", "120", "30", "900"),
};

static void parse_args(int argc, char **argv) {
  mode = -1;
  parse_options(argc, argv, options, sizeof options / sizeof options[0]);
  if (mode < 0) print_usage(argv[0], options, sizeof options / sizeof options[0]);
  snprintf(client_name, sizeof client_name, "subgen[%s %u]", mode_names[mode], proc_index);
  check_connection_options();
  if (topics == 0 || topics > MAX_TOPICS) die("--topics must be 1..%u", MAX_TOPICS);
}

static void on_event(uint32_t idx, uint32_t ev) {
  struct conn *c = &conns[idx];
  if (c->state == C_CONNECTING) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connect_ready(c, idx);
    return;
  }
  if (c->state == C_CLOSED || c->state == C_UNSTARTED) return;
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(c, idx);
  if (mode == MODE_PUB && c->state == C_OPEN && (ev & EPOLLOUT))
    for (uint32_t u = 0; u < nuse; u++)
      if (use_idx[u] == idx) {
        c->want_out = 0;
        watch(c->fd, idx, EPOLLIN | EPOLLRDHUP);
        pub_flush(u);
      }
}

static int finished(void) { return phase == P_DONE; }

int main(int argc, char **argv) {
  parse_args(argc, argv);
  before_exit = reset_all;
  client_start();
  t_begin = mono_ns();
  connect_deadline = t_begin + (uint64_t)(connect_timeout_s * 1e9);
  rbuf = malloc(READ_BYTES);
  conns = calloc(nconns, sizeof *conns);
  if (rbuf == NULL || conns == NULL) die("out of memory");
  for (uint32_t i = 0; i < nconns; i++) {
    conns[i].topic = (uint16_t)((first_global + i) % topics);
    conns[i].next_seq = 1;
    conns[i].resp_bulk = -1;
  }
  latency_reset(&window_latency);
  const struct client_handlers handlers = {advance, wait_ns, on_command, on_event, finished};
  run_event_loop(&handlers);
  emit_result();
  reset_all();
  return verify_errors || conn_errors ? 1 : 0;
}
