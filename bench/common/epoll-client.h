// What the C load clients share (bench/load/loadgen.c, bench/cluster/subgen.c):
// a single-threaded epoll process that holds up to MAX_CONNS client
// connections to a loopback server and takes its orders from an orchestrator.
//
//   options   the connection options every client takes (CONNECTION_OPTIONS)
//             and a table-driven parser for them and each client's own, with
//             the usage text derived from the same table.
//   sockets   bound to source addresses 127.0.0.<src-base> onward, in turn,
//             with IP_BIND_ADDRESS_NO_PORT (the port is picked at connect()
//             by the whole 4-tuple), TCP_NODELAY, connected without blocking;
//             closed with SO_LINGER 0 (a reset: no TIME_WAIT on either side),
//             so back-to-back runs never run out of ephemeral ports. A
//             connection's epoll tag is its index.
//   the loop  epoll with a nanosecond timeout; stdin (the orchestrator's
//             commands, one a line) on the same epoll. End of stdin (the
//             orchestrator died) ends the process at once, and --max-seconds
//             bounds its whole life (SIGALRM).
//   latency   a log-linear histogram: exact below 32 ns, then 32 buckets per
//             power of two (~3% wide), written as JSON for the orchestrator.
//   errors    die() ends the process after the client's before_exit hook
//             (which resets every connection); note() keeps the first message
//             of a kind, made safe to print inside a JSON string.
//
// One translation unit includes this file: everything here is static.

#ifndef FLAMINGO_BENCH_EPOLL_CLIENT_H
#define FLAMINGO_BENCH_EPOLL_CLIENT_H

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

/* The servers under test and the clients run with a 20,000-file limit. */
#define MAX_CONNS 19990
#define READ_BYTES (64 * 1024)
#define MAX_EVENTS 512
#define ERROR_TEXT 200
#define COMMAND_BYTES (64 * 1024)
#define STDIN_TAG UINT64_MAX
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

/* ---- errors ---- */

/* The prefix of the client's error lines, e.g. "loadgen[1]". */
static char client_name[48] = "client";
/* Run by die() before the process exits: the client resets its connections. */
static void (*before_exit)(void);

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", client_name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (before_exit != NULL) before_exit();
  exit(2);
}

/* Keeps the first message of a kind in `slot` (ERROR_TEXT bytes), with quotes, backslashes and control bytes replaced. */
__attribute__((format(printf, 2, 3))) static inline void note(char *slot, const char *fmt, ...) {
  if (slot[0] != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(slot, ERROR_TEXT, fmt, ap);
  va_end(ap);
  for (char *p = slot; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 32) *p = '\'';
}

/* ---- clocks and numbers ---- */

/* CLOCK_MONOTONIC is system-wide: its readings compare across processes (Node's process.hrtime.bigint() reads it too). */
static inline uint64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* ---- options ---- */

enum option_kind { OPT_FLAG, OPT_U32, OPT_INT, OPT_DOUBLE, OPT_PORT, OPT_HOST, OPT_CHOICE };

struct option_spec {
  const char *name;
  enum option_kind kind;
  /* OPT_FLAG, OPT_INT, OPT_CHOICE: int; OPT_U32, OPT_HOST (host order): uint32_t; OPT_PORT: uint16_t; OPT_DOUBLE: double. */
  void *target;
  /* The default as it would be written on the command line; NULL: none (the target stays 0, or what the client set). */
  const char *initial;
  const char *help;
  /* OPT_CHOICE: the names, NULL-terminated; the target gets the index of the one given. */
  const char *const *choices;
};

/* Options every client takes; the arguments are the client's defaults, as text. */
static uint32_t server_ip; /* host order */
static uint16_t server_port;
static uint32_t nconns;
static uint32_t src_base, src_count;
static uint32_t proc_index;
static uint32_t max_pending;
static double connect_timeout_s, drain_timeout_s;
static uint32_t max_seconds;

#define CONNECTION_OPTIONS(SRC_COUNT, CONNECT_S, DRAIN_S, MAX_S)                                                         \
  {"--host", OPT_HOST, &server_ip, "127.0.0.1", "the server's address (127.x.y.z only)", NULL},                          \
  {"--port", OPT_PORT, &server_port, NULL, "the server's port (required)", NULL},                                        \
  {"--conns", OPT_U32, &nconns, NULL, "connections to open (required)", NULL},                                           \
  {"--src-base", OPT_U32, &src_base, "2", "source addresses are 127.0.0.<src-base> onward", NULL},                       \
  {"--src-count", OPT_U32, &src_count, SRC_COUNT, "how many source addresses, used in turn", NULL},                      \
  {"--index", OPT_U32, &proc_index, "0", "this process's number among the clients of a run", NULL},                      \
  {"--max-pending", OPT_U32, &max_pending, "200", "connections being set up at once, at most", NULL},                    \
  {"--connect-timeout", OPT_DOUBLE, &connect_timeout_s, CONNECT_S, "seconds for every connection to be set up", NULL},   \
  {"--drain-timeout", OPT_DOUBLE, &drain_timeout_s, DRAIN_S, "seconds for what is in flight after a run", NULL},          \
  {"--max-seconds", OPT_U32, &max_seconds, MAX_S, "a hard bound on the process's life", NULL}

static inline void print_usage(const char *program, const struct option_spec *specs, size_t count) {
  fprintf(stderr, "usage: %s [options]\n", program);
  for (size_t i = 0; i < count; i++) {
    const struct option_spec *o = &specs[i];
    char value[96] = "";
    if (o->kind == OPT_CHOICE) {
      size_t at = 0;
      for (const char *const *c = o->choices; *c != NULL && at < sizeof value - 24; c++)
        at += (size_t)snprintf(value + at, sizeof value - at, "%s%s", c == o->choices ? " " : "|", *c);
    } else if (o->kind != OPT_FLAG) {
      snprintf(value, sizeof value, " %s", o->kind == OPT_HOST ? "ADDR" : "N");
    }
    fprintf(stderr, "  %s%s  %s%s%s%s\n", o->name, value, o->help, o->initial ? " [" : "", o->initial ? o->initial : "",
            o->initial ? "]" : "");
  }
  exit(2);
}

static inline void set_option(const struct option_spec *o, const char *text) {
  char *end = NULL;
  errno = 0;
  switch (o->kind) {
  case OPT_FLAG:
    *(int *)o->target = 1;
    return;
  case OPT_U32:
  case OPT_PORT: {
    unsigned long long v = strtoull(text, &end, 10);
    unsigned long long max = o->kind == OPT_PORT ? 65535 : UINT32_MAX;
    if (errno != 0 || end == text || *end != 0 || text[0] == '-' || v > max) die("%s takes a whole number up to %llu; got %s", o->name, max, text);
    if (o->kind == OPT_PORT) *(uint16_t *)o->target = (uint16_t)v;
    else *(uint32_t *)o->target = (uint32_t)v;
    return;
  }
  case OPT_INT: {
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != 0 || v < -(1l << 30) || v > (1l << 30)) die("%s takes a whole number; got %s", o->name, text);
    *(int *)o->target = (int)v;
    return;
  }
  case OPT_DOUBLE: {
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != 0 || !(v >= 0)) die("%s takes a number of at least 0; got %s", o->name, text);
    *(double *)o->target = v;
    return;
  }
  case OPT_HOST: {
    struct in_addr addr;
    if (inet_pton(AF_INET, text, &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) die("%s must be a 127.x.y.z address; got %s", o->name, text);
    *(uint32_t *)o->target = ntohl(addr.s_addr);
    return;
  }
  case OPT_CHOICE:
    for (int i = 0; o->choices[i] != NULL; i++)
      if (strcmp(o->choices[i], text) == 0) {
        *(int *)o->target = i;
        return;
      }
    die("%s: unknown \"%s\"", o->name, text);
  }
}

/* Sets every option's default, then what the command line gives; an unknown option prints the usage. */
static inline void parse_options(int argc, char **argv, const struct option_spec *specs, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (specs[i].initial != NULL) set_option(&specs[i], specs[i].initial);
  for (int i = 1; i < argc; i++) {
    const struct option_spec *o = NULL;
    for (size_t k = 0; k < count && o == NULL; k++)
      if (strcmp(argv[i], specs[k].name) == 0) o = &specs[k];
    if (o == NULL) print_usage(argv[0], specs, count);
    if (o->kind == OPT_FLAG) {
      set_option(o, NULL);
      continue;
    }
    if (i + 1 >= argc) die("%s needs a value", o->name);
    set_option(o, argv[++i]);
  }
}

/* Checks the connection options once every option is parsed. */
static inline void check_connection_options(void) {
  if (server_port == 0 || nconns == 0 || nconns > MAX_CONNS) die("--port and --conns (1..%u) are required", MAX_CONNS);
  if (src_count == 0 || src_base < 2 || src_base + src_count > 0xfffe) die("bad --src-base/--src-count");
  if (max_pending == 0) max_pending = 1;
}

/* ---- sockets ---- */

static int ep; /* the epoll instance */

/* Opens connection `idx`'s socket and starts connecting it; returns the socket. `*err` is connect()'s errno when it failed at once, else 0. */
static inline int open_connection(uint32_t idx, int sndbuf_bytes, int *err) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sndbuf_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_bytes, sizeof sndbuf_bytes);
  uint32_t source = src_base + idx % src_count;
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr.s_addr = htonl(0x7f000000u + source);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind 127.0.0.%u: %s", source, strerror(errno));
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(server_port)};
  dst.sin_addr.s_addr = htonl(server_ip);
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = idx};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl ADD: %s", strerror(errno));
  *err = connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS ? errno : 0;
  return fd;
}

/* After a connecting socket turned writable: 0 when it connected, else why not. */
static inline int connect_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

static inline void watch(int fd, uint32_t idx, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = idx};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl MOD: %s", strerror(errno));
}

static inline void close_with_reset(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* Writes bytes [*off, len) as far as the socket takes them: 1 when all are out, 0 when the socket is full, -errno on failure. */
static inline int send_some(int fd, const uint8_t *p, uint32_t len, uint32_t *off) {
  while (*off < len) {
    ssize_t w = send(fd, p + *off, len - *off, MSG_NOSIGNAL);
    if (w > 0) *off += (uint32_t)w;
    else if (w < 0 && errno == EAGAIN) return 0;
    else if (w == 0 || errno != EINTR) return w < 0 ? -errno : -EPIPE;
  }
  return 1;
}

/* ---- latency ---- */

struct latency {
  uint64_t hist[HIST_BUCKETS];
  uint64_t count, min, max;
};

static inline void latency_reset(struct latency *l) {
  memset(l, 0, sizeof *l);
  l->min = UINT64_MAX;
}

static inline int hist_index(uint64_t v) {
  if (v < HIST_SUB) return (int)v;
  int e = 63 - __builtin_clzll(v);
  return (e - HIST_SUB_BITS + 1) * HIST_SUB + (int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline uint64_t hist_low(int index) {
  if (index < HIST_SUB) return (uint64_t)index;
  int e = index / HIST_SUB + HIST_SUB_BITS - 1;
  return (uint64_t)(HIST_SUB + index % HIST_SUB) << (e - HIST_SUB_BITS);
}

static inline uint64_t hist_high(int index) {
  if (index < HIST_SUB) return (uint64_t)index + 1;
  int e = index / HIST_SUB + HIST_SUB_BITS - 1;
  return hist_low(index) + (1ull << (e - HIST_SUB_BITS));
}

static inline void latency_add(struct latency *l, uint64_t ns) {
  l->hist[hist_index(ns)]++;
  l->count++;
  if (ns < l->min) l->min = ns;
  if (ns > l->max) l->max = ns;
}

/* The middle of the bucket holding quantile q. */
static inline uint64_t latency_percentile(const struct latency *l, double q) {
  if (l->count == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)l->count);
  if (rank >= l->count) rank = l->count - 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += l->hist[i];
    if (seen > rank) return (hist_low(i) + hist_high(i)) / 2;
  }
  return 0;
}

/* Prints the JSON members "lat_ns":{min,p50,p99,p999,max},"hist":[[low ns, high ns, count], ...] (non-empty buckets). */
static inline void print_latency(const struct latency *l) {
  printf("\"lat_ns\":{\"min\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu},\"hist\":[",
         (unsigned long long)(l->count ? l->min : 0), (unsigned long long)latency_percentile(l, 0.5),
         (unsigned long long)latency_percentile(l, 0.99), (unsigned long long)latency_percentile(l, 0.999), (unsigned long long)l->max);
  int first = 1;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    if (l->hist[i] == 0) continue;
    printf("%s[%llu,%llu,%llu]", first ? "" : ",", (unsigned long long)hist_low(i), (unsigned long long)hist_high(i),
           (unsigned long long)l->hist[i]);
    first = 0;
  }
  printf("]");
}

/* ---- the loop ---- */

struct client_handlers {
  /* Moves between phases on counts and deadlines; called before every wait. */
  void (*advance)(uint64_t now);
  /* How long the next wait may last, in ns. */
  uint64_t (*wait_ns)(uint64_t now);
  /* One line from the orchestrator, without its '\n'. */
  void (*on_command)(char *line);
  /* Events on connection `idx`. */
  void (*on_event)(uint32_t idx, uint32_t events);
  /* True once the client has nothing more to do: the loop returns. */
  int (*finished)(void);
};

/* Ignores SIGPIPE, arms the --max-seconds bound and makes the epoll instance, with stdin on it. */
static inline void client_start(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(max_seconds); /* the default action of SIGALRM ends the process: a hard bound on its life */
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll on stdin: %s", strerror(errno));
}

static inline void read_commands(const struct client_handlers *h) {
  static char command[COMMAND_BYTES];
  static size_t length;
  char buf[4096];
  ssize_t n = read(0, buf, sizeof buf);
  if (n == 0) die("stdin closed: the orchestrator is gone");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    die("stdin: %s", strerror(errno));
  }
  for (ssize_t i = 0; i < n && !h->finished(); i++) {
    if (buf[i] == '\n') {
      command[length] = 0;
      length = 0;
      h->on_command(command);
    } else if (length < COMMAND_BYTES - 1) {
      command[length++] = buf[i];
    }
  }
}

static inline void run_event_loop(const struct client_handlers *h) {
  struct epoll_event events[MAX_EVENTS];
  while (!h->finished()) {
    h->advance(mono_ns());
    if (h->finished()) break;
    uint64_t wait = h->wait_ns(mono_ns());
    struct timespec timeout = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
    int n = epoll_pwait2(ep, events, MAX_EVENTS, &timeout, NULL);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == STDIN_TAG) read_commands(h);
      else h->on_event((uint32_t)events[i].data.u64, events[i].events);
    }
  }
}

#endif
