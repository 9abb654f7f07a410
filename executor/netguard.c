#include "netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char *v4_range(uint32_t a) {
  if ((a >> 24) == 127)
    return "loopback";
  if ((a >> 24) == 0)
    return "unspecified";
  if (a == 0xA9FEA9FEu) /* 169.254.169.254 */
    return "metadata";
  if ((a >> 16) == 0xA9FE)
    return "link-local";
  if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8)
    return "private";
  if ((a >> 22) == (100u << 2 | 1)) /* 100.64.0.0/10 */
    return "shared (carrier-grade NAT)";
  if ((a >> 28) >= 0xE) /* multicast, reserved, broadcast */
    return "multicast or reserved";
  return NULL;
}

static const char *v6_range(const unsigned char *b) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
  static const unsigned char zero[16] = {0};
  if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12) ||
      !memcmp(b, zero, 12)) { /* mapped, NAT64, and compatible (::a.b.c.d) */
    uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                 (uint32_t)b[14] << 8 | b[15];
    if (!memcmp(b, zero, 15) && b[15] == 1)
      return "loopback";
    if (!memcmp(b, zero, 16))
      return "unspecified";
    return v4_range(a);
  }
  if (b[0] == 0xff)
    return "multicast or reserved";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
    return "link-local";
  if ((b[0] & 0xfe) == 0xfc) /* fc00::/7, fd00:ec2::254 included */
    return "private";
  return NULL;
}

const char *lf_addr_internal(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return v4_range(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
  if (sa->sa_family == AF_INET6)
    return v6_range(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
  return "not an IP address";
}

/* "ADDR:PORT" as the allowlist spells it. */
static void spell(const struct sockaddr *sa, char *out, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
    snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(s->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
    snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(s->sin6_port));
  } else {
    snprintf(out, size, "?");
  }
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *a) {
  lf_netguard_t *g = clientp;
  char where[80];
  (void)purpose;
  const char *range = lf_addr_internal(&a->addr);
  spell(&a->addr, where, sizeof(where));
  for (size_t i = 0; range && i < g->nallow; i++)
    if (!strcmp(g->allow[i], where))
      range = NULL;
  if (range) {
    snprintf(g->refused, sizeof(g->refused), "refused to connect to %s (%s)",
             where, range);
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

int lf_netguard_install(CURL *easy, lf_netguard_t *g) {
  CURLcode rc;
  g->refused[0] = '\0';
  if ((rc = curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket)) ||
      (rc = curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g)) ||
      (rc = curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")) ||
      (rc = curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")))
    return (int)rc;
  return CURLE_OK;
}
