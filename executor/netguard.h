/* Keeps HTTP actions off the executor's own network: every address
 * libcurl is about to connect to (after DNS, for the first request and
 * for every redirect) is classified, and loopback, private, link-local,
 * cloud metadata, unspecified and multicast ranges are refused unless the
 * binding allows that exact address. Checking the address actually
 * connected to covers every spelling of a host (names, decimal and octal
 * IPv4, IPv4-mapped IPv6) and DNS rebinding alike. */
#ifndef LF_EXECUTOR_NETGUARD_H
#define LF_EXECUTOR_NETGUARD_H

#include <curl/curl.h>
#include <sys/socket.h>

/* The range an address falls in when it is internal ("loopback",
 * "private", "link-local", "metadata", ...), NULL when it is public. */
const char *lf_addr_internal(const struct sockaddr *sa);

typedef struct lf_netguard {
  /* "ADDR:PORT" entries (e.g. "127.0.0.1:8080", "[::1]:443") the binding
   * allows despite being internal; may be NULL. */
  const char *const *allow;
  size_t nallow;
  char refused[160]; /* why the last connection was refused, "" if none */
} lf_netguard_t;

/* Installs g on an easy handle (CURLOPT_OPENSOCKETFUNCTION): refused
 * connections fail the transfer with CURLE_COULDNT_CONNECT and g->refused
 * says why. g must outlive the transfer. Returns a CURLcode. */
int lf_netguard_install(CURL *easy, lf_netguard_t *g);

#endif
