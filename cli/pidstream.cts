#!/usr/bin/env node
/**
 * The `pidstream` executable: sizes libuv's thread pool, then loads the command (cli/main.ts).
 *
 * The agent's blocking waits run on that pool: koffi's asynchronous calls (the exit watcher's
 * epoll_wait, the control and coredump sockets' waits) hold one thread each for as long as they
 * block, beside the file writes and compression that need the pool too. With Node's default of
 * four threads the quiet epoll_waits leave file writes and compression waiting their turn. (A
 * core's bytes are read on the coredump server's own reader threads, not on this pool.) libuv reads UV_THREADPOOL_SIZE once, when the pool first
 * starts, and Node's ES module loader already uses the pool, so the variable must be set here,
 * in a CommonJS file that runs before any ES module is loaded; set from cli/main.ts it would
 * have no effect. Sixteen threads cover every wait the agent holds at once with room for the
 * rest; an idle thread costs its stack's address space and almost no memory. A value set by
 * the operator is kept.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';

void import('./main.js');
