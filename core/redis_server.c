#include "redis_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

struct lf_redis_server {
  pid_t pid;
  int port;
  char program[256];
  char dir[64];
  char url[160];
  char sock[128];
  /* TLS beside the plain port (which the readiness probe uses): the
   * directory of tests/tls_certs.sh's files, tls-auth-clients */
  char tls_dir[200];
  const char *tls_auth;
  int tls_port;
  int durable;
};

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int port = -1;
  if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
      !getsockname(fd, (struct sockaddr *)&a, &len))
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static void child(const char *program, const lf_redis_server_t *s, int port) {
  char portstr[16], log[96];
  snprintf(portstr, sizeof(portstr), "%d", port);
  snprintf(log, sizeof(log), "%s/redis.log", s->dir);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  /* durable: every write fsynced before it is answered, so that a kill
   * loses nothing that was acknowledged */
  const char *argv[40] = {program,  "--port",        portstr,
                          "--bind", "127.0.0.1",     "--save",
                          "",       "--appendonly",  s->durable ? "yes" : "no",
                          "--dir",  s->dir,          "--daemonize",
                          "no",     "--appendfsync", "always"};
  size_t n = 15;
  char tls[4][256];
  if (s->sock[0]) {
    argv[n++] = "--unixsocket";
    argv[n++] = s->sock;
  }
  if (s->tls_dir[0]) {
    snprintf(tls[0], sizeof(tls[0]), "%d", s->tls_port);
    snprintf(tls[1], sizeof(tls[1]), "%s/server.pem", s->tls_dir);
    snprintf(tls[2], sizeof(tls[2]), "%s/server.key", s->tls_dir);
    snprintf(tls[3], sizeof(tls[3]), "%s/ca.pem", s->tls_dir);
    const char *more[] = {
        "--tls-port",         tls[0],     "--tls-cert-file",    tls[1],
        "--tls-key-file",     tls[2],     "--tls-ca-cert-file", tls[3],
        "--tls-auth-clients", s->tls_auth};
    for (size_t i = 0; i < 10; i++)
      argv[n++] = more[i];
  }
  argv[n] = NULL;
  execvp(program, (char *const *)argv);
  fprintf(stderr, "exec %s: %s\n", program, strerror(errno));
  _exit(127);
}

static int ping(const lf_redis_server_t *s, int port) {
  struct timeval tv = {0, 200000};
  redisContext *c = s->sock[0] ? redisConnectUnixWithTimeout(s->sock, tv)
                               : redisConnectWithTimeout("127.0.0.1", port, tv);
  int ok = 0;
  if (c && !c->err) {
    redisReply *r = redisCommand(c, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

/* Waits until the server answers, or reports why it exited. */
static lf_err_t wait_ready(lf_redis_server_t *s, const char *program, int port,
                           char *errstr, size_t errstr_size) {
  int64_t deadline = lf_monotonic_ms() + 10000;
  while (lf_monotonic_ms() < deadline) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      char path[96], *log;
      snprintf(path, sizeof(path), "%s/redis.log", s->dir);
      log = lf_read_file(path, NULL, errstr, errstr_size);
      snprintf(errstr, errstr_size, "%s exited (status %d)%s%.300s", program,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               WIFEXITED(status) && WEXITSTATUS(status) == 127
                   ? ": not found; install Debian's redis-server package. "
                   : ": ",
               log ? log : "");
      free(log);
      return LF_ERR_IO;
    }
    if (ping(s, port))
      return LF_OK;
    lf_sleep_ms(20);
  }
  snprintf(errstr, errstr_size, "%s did not answer within 10 s", program);
  return LF_ERR_TIMEOUT;
}

lf_redis_server_t *lf_redis_server_start_opts(const char *program,
                                              const lf_redis_server_opts_t *o,
                                              char *errstr,
                                              size_t errstr_size) {
  lf_redis_server_t *s = calloc(1, sizeof(*s));
  int unix_socket = o->unix_socket;
  const char *tls_dir = o->tls_dir;
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  s->durable = o->durable;
  if (tls_dir) {
    snprintf(s->tls_dir, sizeof(s->tls_dir), "%s", tls_dir);
    s->tls_auth = o->tls_auth ? o->tls_auth : "optional";
  }
  snprintf(s->dir, sizeof(s->dir), "/tmp/lamfleet-redis-XXXXXX");
  if (!mkdtemp(s->dir)) {
    snprintf(errstr, errstr_size, "mkdtemp: %s", strerror(errno));
    free(s);
    return NULL;
  }
  if (unix_socket)
    snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
  /* A free port can be taken between the probe and redis' bind: retry. */
  for (int attempt = 0; attempt < 5; attempt++) {
    int port = unix_socket ? 0 : free_port();
    s->tls_port = tls_dir ? free_port() : 0;
    if (port < 0 || s->tls_port < 0) {
      snprintf(errstr, errstr_size, "no free loopback port");
      break;
    }
    if ((s->pid = fork()) < 0) {
      snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
      break;
    }
    if (s->pid == 0)
      child(program, s, port);
    lf_err_t err = wait_ready(s, program, port, errstr, errstr_size);
    if (!err) {
      s->port = port;
      snprintf(s->program, sizeof(s->program), "%s", program);
      if (unix_socket)
        snprintf(s->url, sizeof(s->url), "unix://%s", s->sock);
      else if (tls_dir)
        snprintf(s->url, sizeof(s->url), "rediss://127.0.0.1:%d", s->tls_port);
      else
        snprintf(s->url, sizeof(s->url), "redis://127.0.0.1:%d", port);
      return s;
    }
    if (err != LF_ERR_IO || strstr(errstr, "not found"))
      break;
  }
  lf_redis_server_stop(s);
  return NULL;
}

lf_redis_server_t *lf_redis_server_start(const char *program, int unix_socket,
                                         char *errstr, size_t errstr_size) {
  lf_redis_server_opts_t o = {.unix_socket = unix_socket};
  return lf_redis_server_start_opts(program, &o, errstr, errstr_size);
}

static void terminate(lf_redis_server_t *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    int64_t deadline = lf_monotonic_ms() + 5000;
    while (waitpid(s->pid, NULL, WNOHANG) == 0) {
      if (lf_monotonic_ms() > deadline) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        break;
      }
      lf_sleep_ms(10);
    }
  }
  s->pid = 0;
}

lf_err_t lf_redis_server_kill(lf_redis_server_t *s) {
  terminate(s);
  return LF_OK;
}

lf_err_t lf_redis_server_restart(lf_redis_server_t *s, char *errstr,
                                 size_t errstr_size) {
  terminate(s);
  if ((s->pid = fork()) < 0) {
    snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
    return LF_ERR_IO;
  }
  if (s->pid == 0)
    child(s->program, s, s->port);
  return wait_ready(s, s->program, s->port, errstr, errstr_size);
}

/* Removes dir and what redis-server wrote in it (its log, socket, dump,
 * appendonlydir/ and the files there). */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[512];
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (e->d_type == DT_DIR)
      remove_tree(path);
    else
      unlink(path);
  }
  if (d)
    closedir(d);
  rmdir(dir);
}

void lf_redis_server_stop(lf_redis_server_t *s) {
  if (!s)
    return;
  terminate(s);
  remove_tree(s->dir);
  free(s);
}

const char *lf_redis_server_url(const lf_redis_server_t *s) {
  return s->url;
}
int lf_redis_server_port(const lf_redis_server_t *s) {
  return s->port;
}
pid_t lf_redis_server_pid(const lf_redis_server_t *s) {
  return s->pid;
}
