// A small TCP proxy for the end-to-end tests: clients connect to the proxy,
// which forwards every connection to a target port. A test can cut every
// live connection (the clients see a transport close, as on a network
// drop), refuse new ones for a while (a network that stays down), and point
// later connections at another target (a load balancer that moves a client
// to another node).
//
//   import { startProxy } from './lib/proxy.mjs';
//   const proxy = await startProxy(serverPort);
//   io(proxy.url, ...)
//   proxy.cut({ refuse: true });   // drop live connections, refuse new ones
//   proxy.retarget(otherPort);     // new connections go elsewhere
//   proxy.restore();               // accept again
//   await proxy.close();

import { createServer, connect } from 'node:net';

/**
 * Starts a proxy on a free 127.0.0.1 port forwarding to targetPort (on
 * 127.0.0.1, or targetHost).
 *
 * @param {number} targetPort
 * @param {{targetHost?: string}} [opts]
 * @returns {Promise<{port: number, url: string, connections: () => number,
 *   accepted: () => number, cut: (o?: {refuse?: boolean}) => void, restore: () => void,
 *   retarget: (port: number, host?: string) => void, close: () => Promise<void>}>}
 */
export async function startProxy(targetPort, opts = {}) {
  let target = { port: targetPort, host: opts.targetHost ?? '127.0.0.1' };
  let refusing = false;
  let accepted = 0;
  const live = new Set(); // [client, upstream] pairs

  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair = [client, upstream];
    live.add(pair);
    const end = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  const { port } = server.address();

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** Connections forwarded right now. */
    connections: () => live.size,
    /** Connections accepted and forwarded since the start. */
    accepted: () => accepted,
    /**
     * Destroys every live connection at once (both sides see the TCP
     * connection end, as on a network drop); with refuse, new connections
     * are closed as soon as they arrive until restore().
     */
    cut({ refuse = false } = {}) {
      if (refuse) refusing = true;
      for (const [client, upstream] of live) {
        client.destroy();
        upstream.destroy();
      }
      live.clear();
    },
    /** Accepts and forwards new connections again. */
    restore() {
      refusing = false;
    },
    /** New connections go to port (live ones stay where they are). */
    retarget(newPort, host = '127.0.0.1') {
      target = { port: newPort, host };
    },
    /** Cuts everything and stops listening. */
    async close() {
      refusing = true;
      for (const [client, upstream] of live) {
        client.destroy();
        upstream.destroy();
      }
      live.clear();
      await new Promise((res) => server.close(() => res()));
    },
  };
}
