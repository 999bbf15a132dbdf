// Small promise helpers shared by the end-to-end tests. Every wait is
// bounded, so a missing event fails the test instead of hanging it.

// waitFor resolves with the arguments of the next `event` on emitter, or
// rejects after ms.
export function waitFor(emitter, event, ms = 5000) {
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

// collect records every `event` on emitter into an array.
export function collect(emitter, event) {
  const got = [];
  emitter.on(event, (...args) => got.push(args.length === 1 ? args[0] : args));
  return got;
}

// until polls check() until it returns truthy, or rejects after ms.
export async function until(check, ms = 5000, what = 'condition') {
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
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within 5 s`)), 5000);
    socket.emit(event, ...args, (...reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}
