/* The minimal C exit watcher the agent is measured against: proc connector for forks and
 * exits, a pidfd per process opened at fork, epoll over both, PIDFD_INFO_EXIT on hang-up, and
 * the connector's exit notice when pidfd_open lost the race. On SIGTERM it prints one line
 * "pid ppid status source observed_us" per exit (source 0 = pidfd, 1 = connector). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

/* include/uapi/linux/pidfd.h, Linux 6.13 to 6.19 */
struct pidfd_info_80 {
  uint64_t mask, cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask, coredump_signal;
  uint64_t supported_mask;
};
#define PIDFD_GET_INFO_80 0xc050ff0bUL
#define INFO_EXIT (1 << 3)
#define INFO_CGROUPID (1 << 2)
#define MAX_PID (1 << 22)
#define MAX_EXITS (1 << 21)

static int fd_of_pid[MAX_PID];
static int ppid_of_pid[MAX_PID];
static unsigned char lost[MAX_PID];
static struct { int pid, ppid, status, source; long long at; } exits[MAX_EXITS];
static int nexits;
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void record(int pid, int ppid, int status, int source) {
  if (nexits < MAX_EXITS) {
    exits[nexits].pid = pid;
    exits[nexits].ppid = ppid;
    exits[nexits].status = status;
    exits[nexits].source = source;
    exits[nexits].at = now_us();
    nexits++;
  }
}

int main(void) {
  signal(SIGTERM, on_term);
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  int rcvbuf = 32 << 20;
  setsockopt(nl, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
  if (bind(nl, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
  struct {
    struct nlmsghdr h;
    struct cn_msg c;
    enum proc_cn_mcast_op op;
  } __attribute__((packed)) sub = {0};
  sub.h.nlmsg_len = sizeof sub;
  sub.h.nlmsg_type = NLMSG_DONE;
  sub.c.id.idx = CN_IDX_PROC;
  sub.c.id.val = CN_VAL_PROC;
  sub.c.len = sizeof(enum proc_cn_mcast_op);
  sub.op = PROC_CN_MCAST_LISTEN;
  if (send(nl, &sub, sizeof sub, 0) < 0) { perror("send"); return 1; }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)nl};
  epoll_ctl(ep, EPOLL_CTL_ADD, nl, &ev);
  fprintf(stderr, "ready\n");
  struct epoll_event events[1024];
  char buf[4096];
  while (!stop) {
    int n = epoll_wait(ep, events, 1024, 100);
    for (;;) {
      ssize_t len = recv(nl, buf, sizeof buf, 0);
      if (len < 0) {
        if (errno == ENOBUFS) { fprintf(stderr, "overflow\n"); continue; }
        break;
      }
      struct proc_event *pe = (struct proc_event *)((struct cn_msg *)NLMSG_DATA(buf))->data;
      if (pe->what == PROC_EVENT_FORK) {
        int pid = pe->event_data.fork.child_pid;
        if (pid != pe->event_data.fork.child_tgid || pid >= MAX_PID) continue;
        ppid_of_pid[pid] = pe->event_data.fork.parent_tgid;
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) { lost[pid] = 1; continue; }
        fd_of_pid[pid] = fd;
        struct epoll_event pev = {.events = 0, .data.u32 = (uint32_t)pid};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &pev);
      } else if (pe->what == PROC_EVENT_EXIT) {
        int pid = pe->event_data.exit.process_pid;
        if (pid != pe->event_data.exit.process_tgid || pid >= MAX_PID) continue;
        if (lost[pid]) {
          lost[pid] = 0;
          record(pid, ppid_of_pid[pid], pe->event_data.exit.exit_code, 1);
        }
      }
    }
    for (int i = 0; i < n; i++) {
      if (events[i].data.u32 == (uint32_t)nl || !(events[i].events & EPOLLHUP)) continue;
      int pid = (int)events[i].data.u32;
      struct pidfd_info_80 info = {.mask = INFO_EXIT | INFO_CGROUPID};
      ioctl(fd_of_pid[pid], PIDFD_GET_INFO_80, &info);
      record(pid, ppid_of_pid[pid], info.exit_code, 0);
      close(fd_of_pid[pid]);
      fd_of_pid[pid] = 0;
    }
  }
  for (int i = 0; i < nexits; i++)
    printf("%d %d %d %d %lld\n", exits[i].pid, exits[i].ppid, exits[i].status, exits[i].source,
           exits[i].at);
  return 0;
}
