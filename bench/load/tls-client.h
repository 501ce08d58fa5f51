// TLS for bench/load/loadgen.c (--tls): one OpenSSL client context, and the
// outcome of a non-blocking SSL call in the terms an epoll loop acts on.
//
// The server's certificate is not verified: the servers under test use a
// throwaway self-signed certificate on loopback, and what is measured is the
// cost of the handshake and of the encrypted bytes, not trust. Sessions are
// never resumed (no cache, no tickets kept), so every handshake is a full one.
// Buffers are released while a connection is idle (SSL_MODE_RELEASE_BUFFERS),
// so 19,000 idle client connections stay small. Partial writes are on, and a
// write that would block is retried with the rest of the same bytes, as
// OpenSSL asks.

#ifndef FLAMINGO_BENCH_TLS_CLIENT_H
#define FLAMINGO_BENCH_TLS_CLIENT_H

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

enum tls_outcome { TLS_WANT_READ, TLS_WANT_WRITE, TLS_EOF, TLS_FAILED };

static inline SSL_CTX *tls_client_context(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) return NULL;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

/* What an SSL call that returned `ret` (<= 0) asks for; on TLS_FAILED `why` says what failed (the first queued error). */
static inline enum tls_outcome tls_outcome(SSL *ssl, int ret, char *why, size_t why_len) {
  int saved_errno = errno;
  int err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ) return TLS_WANT_READ;
  if (err == SSL_ERROR_WANT_WRITE) return TLS_WANT_WRITE;
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && saved_errno == 0 && ERR_peek_error() == 0)) {
    ERR_clear_error();
    return TLS_EOF;
  }
  unsigned long code = ERR_get_error();
  if (code != 0) ERR_error_string_n(code, why, why_len);
  else snprintf(why, why_len, "%s", err == SSL_ERROR_SYSCALL ? strerror(saved_errno) : "SSL error");
  ERR_clear_error();
  return TLS_FAILED;
}

#endif
