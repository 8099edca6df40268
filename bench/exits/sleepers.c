/* Forks N children that sleep until this process dies (PR_SET_PDEATHSIG), prints "ready",
 * and waits for SIGTERM. Gives the agent N live processes to watch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  pid_t self = getpid();
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != self) _exit(0);
      for (;;) pause();
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
