/* Process churn for the exits benchmark. Forks P workers; each forks its share of N children
 * one after another (child i exits with i % 256) and reaps it, at full speed or paced to a
 * total RATE exits per second. The parent prints "W pid" per worker; each worker prints, at
 * the end, one line "pid status reap_us" per child, reap_us being CLOCK_REALTIME microseconds
 * after waitpid.
 *
 * The workers share one pipe and finish at about the same time. A write to a pipe is atomic
 * only up to PIPE_BUF bytes, so each worker writes whole lines in chunks of at most PIPE_BUF:
 * one large write per worker let the two interleave inside a line, and a garbled line lost a
 * child from the count of both watchers. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void worker(int count, double rate, int first) {
  int *pids = malloc(sizeof(int) * count);
  int *statuses = malloc(sizeof(int) * count);
  long long *reaped = malloc(sizeof(long long) * count);
  long long start = now_us(CLOCK_MONOTONIC);
  for (int i = 0; i < count; i++) {
    if (rate > 0) {
      long long due = start + (long long)(i * 1e6 / rate);
      long long wait = due - now_us(CLOCK_MONOTONIC);
      if (wait > 0) usleep(wait);
    }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(1); }
    if (pid == 0) _exit((first + i) % 256);
    int status;
    if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); exit(1); }
    reaped[i] = now_us(CLOCK_REALTIME);
    pids[i] = pid;
    statuses[i] = status;
  }
  char chunk[PIPE_BUF];
  size_t used = 0;
  for (int i = 0; i <= count; i++) {
    char line[64];
    int len = i < count ? snprintf(line, sizeof line, "%d %d %lld\n", pids[i], statuses[i],
                                   reaped[i])
                        : 0;
    if (i == count || used + (size_t)len > sizeof chunk) {
      if (write(STDOUT_FILENO, chunk, used) != (ssize_t)used) { perror("write"); exit(1); }
      used = 0;
    }
    memcpy(chunk + used, line, (size_t)len);
    used += (size_t)len;
  }
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: churn N PARALLEL [RATE]\n"); return 2; }
  int n = atoi(argv[1]), parallel = atoi(argv[2]);
  double rate = argc > 3 ? atof(argv[3]) : 0;
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);
  for (int w = 0; w < parallel; w++) {
    int share = n / parallel + (w < n % parallel ? 1 : 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      worker(share, rate / parallel, w * 7);
      _exit(0);
    }
    printf("W %d\n", (int)pid);
  }
  fflush(stdout);
  int status, failed = 0;
  while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  return failed;
}
