/**
 * The floor of TypeScript through koffi for the exits benchmark: the C watcher's job
 * (bench/exits/watcher.c) written with the agent's own bindings (native/), and nothing else.
 * Proc connector through `ProcConnector`, a pidfd per forked process with its pidfs inode,
 * epoll over both, PIDFD_INFO_EXIT on hang-up, the connector's notice when pidfd_open lost the
 * race. No process table, no records, no batches, no workers: what it costs above the C
 * watcher is what JavaScript and koffi cost for the system calls themselves, and what the
 * agent costs above it is the agent's own work.
 *
 * The loop never returns to the event loop, so it is driven through its standard input, which
 * is in the epoll set too: a line makes it print how many exits it has seen so far, end of file
 * makes it stop.
 */
import {
  close,
  EPOLL_CTL_ADD,
  EPOLL_EVENT_SIZE,
  epollCreate,
  epollCtl,
  epollWait,
  EPOLLHUP,
  EPOLLIN,
  read,
  STAT_SIZE,
} from '../../native/libc.js';
import {
  PROC_EVENT_EXIT,
  PROC_EVENT_FORK,
  ProcConnector,
  type ProcNotice,
} from '../../native/netlink.js';
import {
  INFO_OFF_MASK,
  PIDFD_GET_INFO,
  PIDFD_INFO_CGROUPID,
  PIDFD_INFO_EXIT,
  PIDFD_INFO_SIZE,
  pidfsInode,
} from '../../native/pidfd.js';
import { closeQuiet, ioctlQuiet, pidfdOpenQuiet } from '../../native/quiet.js';

const MAX_PID = 1 << 22;
const STDIN = 0;

const connector = new ProcConnector();
const epfd = epollCreate();
const ctl = Buffer.alloc(EPOLL_EVENT_SIZE);
epollCtl(epfd, EPOLL_CTL_ADD, connector.fd, EPOLLIN, connector.fd, ctl);
epollCtl(epfd, EPOLL_CTL_ADD, STDIN, EPOLLIN, STDIN, ctl);
const events = Buffer.alloc(1024 * EPOLL_EVENT_SIZE);
const stat = Buffer.alloc(STAT_SIZE);
const info = Buffer.alloc(PIDFD_INFO_SIZE);
const input = Buffer.alloc(64);
const lost = new Uint8Array(MAX_PID);
let exits = 0;

function onNotice(n: ProcNotice): void {
  if (n.what === PROC_EVENT_FORK) {
    const pid = n.childTgid;
    if (n.childPid !== pid || pid >= MAX_PID) return;
    const fd = pidfdOpenQuiet(pid);
    if (fd < 0) {
      lost[pid] = 1;
      return;
    }
    pidfsInode(fd, stat);
    epollCtl(epfd, EPOLL_CTL_ADD, fd, 0, fd, ctl);
  } else if (n.what === PROC_EVENT_EXIT && n.pid === n.tgid && lost[n.tgid] === 1) {
    lost[n.tgid] = 0;
    exits++;
  }
}

process.stderr.write('ready\n');
for (let stopping = false; !stopping;) {
  const ready = epollWait(epfd, events, 100);
  connector.drain(onNotice, 16_384);
  for (let i = 0; i < ready; i++) {
    const flags = events.readUInt32LE(i * EPOLL_EVENT_SIZE);
    const fd = events.readUInt32LE(i * EPOLL_EVENT_SIZE + 4);
    if (fd === STDIN) {
      if (read(STDIN, input) === 0) stopping = true;
      else process.stdout.write(`${exits}\n`);
    }
    if (fd === connector.fd || fd === STDIN || (flags & EPOLLHUP) === 0) continue;
    info.writeUInt32LE(PIDFD_INFO_EXIT | PIDFD_INFO_CGROUPID, INFO_OFF_MASK);
    ioctlQuiet(fd, PIDFD_GET_INFO, info);
    closeQuiet(fd);
    exits++;
  }
}
connector.close();
close(epfd);
