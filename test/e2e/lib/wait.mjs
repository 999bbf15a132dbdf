// Small promise helpers shared by the end-to-end tests. Every wait is
// bounded, so a missing event fails the test instead of hanging it.

// GUARD_MS bounds every wait for something that must happen. It is only a
// failure guard: no test outcome depends on it, so it is generous enough
// for a loaded 2-core machine (an event that arrives is taken at once).
export const GUARD_MS = 30_000;

// waitFor resolves with the arguments of the next `event` on emitter, or
// rejects after ms.
export function waitFor(emitter, event, ms = GUARD_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    function handler(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, handler);
  });
}

// collect records the payload (first argument) of every `event` on emitter
// into an array. With connection-state recovery on (the server's default,
// as Node's with connectionStateRecovery), every event the server sends
// carries its offset as a last, extra argument; the payload comes first.
export function collect(emitter, event) {
  const got = [];
  emitter.on(event, (payload) => got.push(payload));
  return got;
}

// until polls check() until it returns truthy, or rejects after ms.
export async function until(check, ms = GUARD_MS, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// emitWithAck emits with an ack callback and resolves with the ack's
// arguments (works for socket.io-client 2.x and 4.x alike).
export function emitWithAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within ${GUARD_MS} ms`)), GUARD_MS);
    socket.emit(event, ...args, (...reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

// firstOf resolves with [event, ...args] for whichever of events comes
// first on emitter, or rejects after ms; it leaves no listener or timer.
export function firstOf(emitter, events, ms = GUARD_MS) {
  return new Promise((resolve, reject) => {
    const handlers = new Map();
    const done = () => {
      clearTimeout(timer);
      for (const [event, h] of handlers) emitter.off(event, h);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${ms} ms waiting for any of ${events.join(', ')}`));
    }, ms);
    for (const event of events) {
      const h = (...args) => {
        done();
        resolve([event, ...args]);
      };
      handlers.set(event, h);
      emitter.on(event, h);
    }
  });
}

// connectBeforeExpiry connects a socket with a token that expires `ttl`
// seconds after it is minted, to watch it expire on the live socket. The
// token must still be valid when the handshake arrives: on a machine too
// loaded to mint it and connect in that time, the handshake is refused as
// expired, and it tries again with twice the time. The test then waits
// longer; what it asserts is the same. mint(ttl) returns a token (ttl as
// "Ns"), connect(token) an unconnected socket. Resolves with {socket,
// token}.
export async function connectBeforeExpiry(mint, connect, ttl = 5) {
  for (;; ttl *= 2) {
    const token = await mint(`${ttl}s`);
    const socket = connect(token);
    if (socket.connected) return { socket, token };
    const [event, err] = await firstOf(socket, ['connect', 'connect_error']);
    if (event === 'connect') return { socket, token };
    socket.close();
    if (!/expired/.test(err?.message) || ttl >= 80) throw err;
  }
}
