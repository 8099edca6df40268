/* Forks N children that sleep until this process dies (PR_SET_PDEATHSIG), prints "ready",
 * and waits for SIGTERM. Gives the agent N live processes to watch. On SIGTERM it kills its
 * children and reaps every one before it exits, so a 10,000-process exit storm never spills
 * into whatever the benchmark measures next. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  pid_t self = getpid();
  pid_t *pids = malloc(sizeof(pid_t) * n);
  /* SIGTERM stays blocked except inside sigsuspend, so it cannot slip in before the wait. */
  sigset_t term, open;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &open);
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      signal(SIGTERM, SIG_DFL);
      sigprocmask(SIG_SETMASK, &open, NULL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != self) _exit(0);
      for (;;) pause();
    }
    pids[i] = pid;
  }
  printf("ready\n");
  fflush(stdout);
  while (!stop) sigsuspend(&open);
  for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
  while (wait(NULL) > 0) {}
  return 0;
}
