#!/usr/bin/env node
/**
 * The `pidstream` executable: sizes libuv's thread pool, then loads the command (cli/main.ts).
 *
 * The agent's blocking waits run on that pool: koffi's asynchronous calls (the control and
 * coredump sockets' epoll_waits) hold one thread each for as long as they block, beside the
 * file writes and compression that need the pool too. (The exit watcher and the readers of
 * cores block on threads of their own, not on this pool.) libuv reads UV_THREADPOOL_SIZE
 * once, when the pool first starts, and Node's ES module loader already uses the pool, so the
 * variable must be set here, in a CommonJS file that runs before any ES module is loaded; set
 * from cli/main.ts it would have no effect. Sixteen threads cover every wait the agent holds
 * at once with room for the rest; an idle thread costs its stack's address space and almost
 * no memory. A value set by the operator is kept.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';

void import('./main.js');
