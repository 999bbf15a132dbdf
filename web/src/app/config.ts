import { InjectionToken } from '@angular/core';

/**
 * Where the dashboard finds the Eventide server.
 *
 * The defaults suit the dashboard as the server ships it: served by Eventide
 * itself, so the REST API and Socket.IO are on the same origin and no CORS is
 * involved. An app hosted elsewhere provides its own values, and the server
 * must list that app's origin in --cors-origins.
 */
export interface EventideConfig {
  /** Prefix of REST calls: '' for same origin, or e.g. 'https://rt.example.com'. */
  apiUrl: string;
  /** Origin handed to io(): same origin when undefined. */
  socketUrl?: string;
  /** Socket.IO path; the server mounts it at /socket.io/. */
  socketPath: string;
}

export const EVENTIDE_CONFIG = new InjectionToken<EventideConfig>('EVENTIDE_CONFIG', {
  providedIn: 'root',
  factory: () => ({ apiUrl: '', socketPath: '/socket.io/' }),
});
