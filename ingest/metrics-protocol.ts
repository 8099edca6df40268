/**
 * The messages between the agent's main thread and the metrics endpoint's thread
 * (ingest/metrics-http.ts), in one place.
 */

/** How long a scrape waits for a fresh rendering before it is served the previous one. */
export const FRESH_WAIT_MS = 25;
/** The main thread says it is alive this often. */
export const HEARTBEAT_MS = 1_000;
/** /healthz fails once the main thread has been silent this long. */
export const HEALTH_STALE_MS = 10_000;

/** Main thread to endpoint. */
export type ToEndpoint =
  | { type: 'metrics'; id: number; text: string; contentType: string }
  | { type: 'heartbeat'; ready: boolean; reason: string; id?: number };

/** Endpoint to main thread. */
export type FromEndpoint =
  | { type: 'listening'; url: string }
  | { type: 'error'; message: string }
  | { type: 'render'; id: number }
  | { type: 'readiness'; id: number };
