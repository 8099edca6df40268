/**
 * The metrics HTTP endpoint, in a worker thread of its own. The agent's event loop does the
 * per-event work; an endpoint on that loop answers only between two of its tasks, so at full
 * process churn its latency would be the loop's longest task. Here the thread answers at once:
 * it asks the agent for a fresh rendering and serves it if it comes within FRESH_WAIT_MS,
 * else the previous one (whose age is in the `x-pidstream-metrics-age-ms` header).
 *
 * /healthz answers 503 once the agent's loop has not sent its heartbeat for HEALTH_STALE_MS:
 * a stalled agent is unhealthy even though this thread still answers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

import {
  FRESH_WAIT_MS,
  HEALTH_STALE_MS,
  type FromEndpoint,
  type ToEndpoint,
} from './metrics-protocol.js';

interface Rendering {
  text: string;
  contentType: string;
  atMs: number;
}

const port = parentPort;
if (port === null) throw new Error('metrics-http.js runs as a worker thread only');
const { host, listenPort } = workerData as { host: string; listenPort: number };

let last: Rendering | null = null;
let heartbeatAtMs = Date.now();
let readiness = { ready: false, reason: 'agent not started' };
let nextId = 0;
/** Requests to the main thread waiting for their answer, by id. */
const waiting = new Map<number, () => void>();

port.on('message', (msg: ToEndpoint) => {
  if (msg.type === 'heartbeat') {
    heartbeatAtMs = Date.now();
    readiness = { ready: msg.ready, reason: msg.reason };
  } else {
    last = { text: msg.text, contentType: msg.contentType, atMs: Date.now() };
  }
  if (msg.id !== undefined) {
    waiting.get(msg.id)?.();
    waiting.delete(msg.id);
  }
});

/**
 * Asks the main thread (`render` or `readiness`) and resolves when it answered, or after
 * FRESH_WAIT_MS when `stale` is acceptable; the first scrape waits for a rendering.
 */
function ask(type: 'render' | 'readiness', stale: () => boolean): Promise<void> {
  const id = nextId++;
  port?.postMessage({ type, id } satisfies FromEndpoint);
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    setTimeout(() => {
      if (stale() && waiting.delete(id)) resolve();
    }, FRESH_WAIT_MS);
  });
}

function send(msg: FromEndpoint): void {
  port?.postMessage(msg);
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
  } else if (path === '/metrics') {
    void ask('render', () => last !== null).then(() => {
      const r = last as Rendering;
      res
        .writeHead(200, {
          'content-type': r.contentType,
          'x-pidstream-metrics-age-ms': String(Date.now() - r.atMs),
        })
        .end(r.text);
    });
  } else if (path === '/healthz') {
    const silentMs = Date.now() - heartbeatAtMs;
    if (silentMs > HEALTH_STALE_MS) {
      res
        .writeHead(503, { 'content-type': 'text/plain' })
        .end(`agent loop silent for ${silentMs} ms\n`);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    }
  } else if (path === '/readyz') {
    void ask('readiness', () => true).then(() =>
      res
        .writeHead(readiness.ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${readiness.reason}\n`),
    );
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  }
});

server.once('error', (err) => send({ type: 'error', message: err.message }));
server.listen(listenPort, host, () => {
  const bound = server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  send({ type: 'listening', url: `http://${shown}:${bound.port}` });
});
