// The client side of RFC 6455 that bench/load/loadgen.c speaks with --proto
// ws: the opening handshake (an HTTP/1.1 upgrade request with a random
// Sec-WebSocket-Key; the server's 101 and its Sec-WebSocket-Accept checked),
// client frames (always masked, a fresh mask per frame), and the headers of
// server frames (never masked; 2, 4 or 10 bytes). No extension and no
// subprotocol is asked for, so a response that names one is wrong.
//
// Pure functions over bytes; SHA-1 and base64 come from libcrypto.

#ifndef FLAMINGO_BENCH_WEBSOCKET_CLIENT_H
#define FLAMINGO_BENCH_WEBSOCKET_CLIENT_H

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* base64 of the 16-byte key, and of the 20-byte SHA-1 in the accept header, each with its NUL. */
#define WS_KEY_TEXT 25
#define WS_ACCEPT_TEXT 29
#define WS_REQUEST_BYTES 256
/* The most header bytes a client frame has (2, 8 for a 64-bit length, 4 for the mask) and a server frame has (2 and 8). */
#define WS_CLIENT_HEADER_MAX 14
#define WS_SERVER_HEADER_MAX 10
#define WS_CONTROL_MAX 125

enum ws_opcode { WS_CONTINUATION = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* The Sec-WebSocket-Key for 16 random bytes. */
static inline void ws_key(const uint8_t random[16], char out[WS_KEY_TEXT]) { EVP_EncodeBlock((unsigned char *)out, random, 16); }

/* The Sec-WebSocket-Accept a server must answer `key` with: base64(SHA-1(key + GUID)). */
static inline void ws_accept(const char *key, char out[WS_ACCEPT_TEXT]) {
  char joined[WS_KEY_TEXT + sizeof WS_GUID];
  int n = snprintf(joined, sizeof joined, "%s%s", key, WS_GUID);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(joined, (size_t)n, digest, &digest_len, EVP_sha1(), NULL);
  EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len);
}

/* The upgrade request for path "/"; returns its length. */
static inline int ws_upgrade_request(char out[WS_REQUEST_BYTES], const char *host, uint16_t port, const char *key) {
  return snprintf(out, WS_REQUEST_BYTES,
                  "GET / HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  host, port, key);
}

/* Whether the comma-separated header value `v` (length n) holds `token`, case-insensitively. */
static inline int ws_has_token(const char *v, size_t n, const char *token) {
  size_t t = strlen(token);
  for (size_t i = 0; i < n;) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < n && v[i] != ',') i++;
    size_t end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (end - start == t && strncasecmp(v + start, token, t) == 0) return 1;
  }
  return 0;
}

/*
 * Checks the server's response head (the status line and headers, up to and
 * without the blank line) against the accept value expected. Returns NULL
 * when it is a valid switch to WebSocket, else what is wrong.
 */
static inline const char *ws_check_response(const char *head, size_t len, const char *accept) {
  const char *end = head + len;
  const char *eol = memmem(head, len, "\r\n", 2);
  if (eol == NULL) eol = end;
  if (eol - head < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0 || (eol - head > 12 && head[12] != ' '))
    return "the server did not answer 101 Switching Protocols";
  int upgrade = 0, connection = 0, accepted = 0;
  for (const char *line = eol + 2; line < end; line = eol + 2) {
    eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (eol == NULL) eol = end;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon == NULL) return "a response header without a colon";
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    while (value < eol && (*value == ' ' || *value == '\t')) value++;
    const char *value_end = eol;
    while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) value_end--;
    size_t value_len = (size_t)(value_end - value);
#define WS_NAME_IS(text) (name_len == sizeof(text) - 1 && strncasecmp(line, text, name_len) == 0)
    if (WS_NAME_IS("upgrade")) upgrade = value_len == 9 && strncasecmp(value, "websocket", 9) == 0;
    else if (WS_NAME_IS("connection")) connection = ws_has_token(value, value_len, "upgrade");
    else if (WS_NAME_IS("sec-websocket-accept")) accepted = value_len == WS_ACCEPT_TEXT - 1 && memcmp(value, accept, value_len) == 0;
    else if (WS_NAME_IS("sec-websocket-extensions")) return "the server chose an extension the client did not offer";
    else if (WS_NAME_IS("sec-websocket-protocol")) return "the server chose a subprotocol the client did not offer";
#undef WS_NAME_IS
  }
  if (!upgrade) return "no \"Upgrade: websocket\" in the response";
  if (!connection) return "no \"Connection: Upgrade\" in the response";
  if (!accepted) return "Sec-WebSocket-Accept missing or not the one the key asks for";
  return NULL;
}

/* XORs n bytes from `src` with the 4-byte mask (its bytes in wire order) into `dst`, starting at mask byte 0. */
static inline void ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4]) {
  uint64_t wide;
  uint8_t pattern[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
  memcpy(&wide, pattern, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, src + i, 8);
    v ^= wide;
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = src[i] ^ mask[i & 3];
}

/* One whole client frame (FIN set) of `opcode` carrying `payload`, masked with `mask`, into `out`; returns its length. */
static inline uint32_t ws_client_frame(uint8_t *out, uint8_t opcode, const uint8_t *payload, uint32_t n, const uint8_t mask[4]) {
  uint32_t h = 0;
  out[h++] = (uint8_t)(0x80 | opcode);
  if (n < 126) {
    out[h++] = (uint8_t)(0x80 | n);
  } else if (n <= 0xffff) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(n >> 8);
    out[h++] = (uint8_t)n;
  } else {
    out[h++] = 0x80 | 127;
    for (int shift = 56; shift >= 0; shift -= 8) out[h++] = (uint8_t)((uint64_t)n >> shift);
  }
  memcpy(out + h, mask, 4);
  h += 4;
  ws_mask(out + h, payload, n, mask);
  return h + n;
}

/* A server frame's header length, known from its first two bytes. */
static inline uint32_t ws_header_length(const uint8_t h[2]) {
  uint32_t len = (h[1] & 0x7f) == 126 ? 4 : (h[1] & 0x7f) == 127 ? 10 : 2;
  return len + (h[1] & 0x80 ? 4 : 0);
}

/* The payload length in a complete header. */
static inline uint64_t ws_payload_length(const uint8_t *h) {
  uint64_t n = h[1] & 0x7f;
  if (n == 126) return (uint64_t)h[2] << 8 | h[3];
  if (n == 127) {
    n = 0;
    for (int i = 2; i < 10; i++) n = n << 8 | h[i];
  }
  return n;
}

#endif
