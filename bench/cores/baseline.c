/*
 * The benchmark's yardstick: the least a coredump socket server can do. It accepts one
 * connection, answers the kernel's request with COREDUMP_KERNEL, reads the 4-byte mark and then
 * the core until end of stream, discarding it or writing it to a file and fsyncing. It prints
 * one JSON line: bytes received, seconds from accept() to the end of the stream, seconds from
 * accept() until the core is durable (after fsync) and the connection closed, and the CPU
 * seconds the server spent (user + system).
 *
 * Usage: baseline SOCKET_PATH discard|disk [OUTPUT_FILE]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/coredump.h, Linux 6.16; the machine's headers are older. */
struct req { uint32_t size; uint32_t size_ack; uint64_t mask; };
struct ack { uint32_t size; uint32_t spare; uint64_t mask; };
#define COREDUMP_KERNEL 1ULL
#define CHUNK (1 << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n <= 0) return -1;
    got += n;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: baseline SOCKET discard|disk [FILE]\n"); return 2; }
  int disk = strcmp(argv[2], "disk") == 0;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
  unlink(argv[1]);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 16) < 0) {
    perror("listen"); return 1;
  }
  printf("{\"ready\":true}\n");
  fflush(stdout);
  int cfd = accept(lfd, NULL, NULL);
  if (cfd < 0) { perror("accept"); return 1; }
  double start = now();
  struct req rq;
  if (read_full(cfd, &rq, sizeof(rq)) < 0) { perror("request"); return 1; }
  char spill[256];
  if (rq.size > sizeof(rq) && read_full(cfd, spill, rq.size - sizeof(rq)) < 0) return 1;
  struct ack ak = { .size = sizeof(ak), .spare = 0, .mask = COREDUMP_KERNEL };
  if (write(cfd, &ak, sizeof(ak)) != sizeof(ak)) { perror("ack"); return 1; }
  uint32_t mark;
  if (read_full(cfd, &mark, sizeof(mark)) < 0 || mark != 0) { fprintf(stderr, "mark\n"); return 1; }
  int out = disk ? open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
  char *buf = malloc(CHUNK);
  long long total = 0;
  for (;;) {
    /* Whole chunks, as the agent reads them: the comparison is of the servers, not of wakeups. */
    ssize_t n = recv(cfd, buf, CHUNK, MSG_WAITALL);
    if (n < 0) { perror("read"); return 1; }
    if (n == 0) break;
    total += n;
    if (out >= 0 && write(out, buf, n) != n) { perror("write"); return 1; }
  }
  double streamed = now() - start;
  if (out >= 0) { fsync(out); close(out); }
  close(cfd);
  double done = now() - start;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  printf("{\"bytes\":%lld,\"seconds\":%.6f,\"doneSeconds\":%.6f,\"cpuSeconds\":%.6f}\n", total,
         streamed, done, cpu);
  return 0;
}
