// Reference server for eventide-bench: a plain Node.js socket.io 4.8 server
// with the same surface the benchmark drives on Eventide, so both servers run
// the same scenario and only the implementation differs.
//
//   node server.js --port 3100 [--host 127.0.0.1] [--jwt-secret S]
//                  [--redis-url redis://127.0.0.1:6379 [--redis-key socket.io]]
//
// With --redis-url the server is one node of a cluster on
// @socket.io/redis-adapter 8.3 (createAdapter(pub, sub, { key })), as a
// NestJS deployment runs it: broadcasts reach the rooms' sockets on every
// node. The slot store stays in memory per node; a slot created on one node
// is copied to the others with serverSideEmit (once per slot, at setup), so
// a PATCH may go to any node. A PATCH changes only the copy of the node that
// got it (seq and version are per node): Node's cluster does no shared-store
// work per event, which keeps its figures a lower bound.
//
// Surface (the same as Eventide's, see docs/performance.md):
//   GET  /healthz                                   -> 200 ok
//   Socket.IO at /socket.io/ (EIO=4, websocket and polling), default options
//     CONNECT auth {token}; with --jwt-secret the HS256 token is verified at
//     the handshake exactly once per connection, as Eventide does; without it
//     any auth is accepted (nothing is verified).
//     "joinRoom" room -> socket.join(room), emits "joinedRoom" {room}
//     "leaveRoom" room -> socket.leave(room), emits "leftRoom" {room}
//   POST /api/v1/dev/emit {room?, event, data, count?} -> 202, emits count
//     times into the room (to everyone when room is omitted)
//   POST  /api/v1/providers/:id/slots {start, end, status?, note?} -> 201 slot
//   PATCH /api/v1/providers/:id/slots/:slotId {start?, end?, status?, note?}
//     -> 200 slot; both emit "availabilityUpdated"
//     {action, providerId, slot, seq, at} to the room "provider-<id>"
//   REST calls need "Authorization: Bearer <token>"; with --jwt-secret the
//   token is verified (HS256, exp) on every call, as Eventide does.
//
// The slot store is in memory (a Map per provider): the reference measures
// the Socket.IO fan-out of a Node server, not a database.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');

function parseArgs(argv) {
  const opts = { port: 3100, host: '127.0.0.1', jwtSecret: process.env.EVENTIDE_JWT_SECRET || '', redisURL: '', redisKey: 'socket.io' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--jwt-secret') opts.jwtSecret = next();
    else if (a === '--redis-url') opts.redisURL = next();
    else if (a === '--redis-key') opts.redisKey = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be 0..65535');
  }
  return opts;
}

// verifyHS256 checks an HS256 JWT's signature and expiry with node:crypto and
// returns its claims, or null. It is the work Eventide does per token.
function verifyHS256(token, secret) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!header || header.alg !== 'HS256') return null;
  const want = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return null;
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return null;
  return claims;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const authorize = (token) => (opts.jwtSecret ? verifyHS256(token, opts.jwtSecret) : {});

  // providers: id -> { seq, nextId, slots: Map<id, slot> }
  const providers = new Map();
  let nextSlotId = 1;
  const provider = (id) => {
    let p = providers.get(id);
    if (!p) {
      p = { seq: 0, slots: new Map() };
      providers.set(id, p);
    }
    return p;
  };

  const send = (res, status, body) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const problem = (res, status, detail, field) => send(res, status, { title: http.STATUS_CODES[status], status, detail, field });

  const readJSON = (req, limit = 64 * 1024) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > limit) {
          reject(Object.assign(new Error('body too large'), { status: 413 }));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
        } catch {
          reject(Object.assign(new Error('malformed JSON'), { status: 400 }));
        }
      });
      req.on('error', reject);
    });

  const bearer = (req) => {
    const h = req.headers.authorization || '';
    return h.startsWith('Bearer ') ? h.slice(7) : '';
  };

  const validTime = (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
  const overlaps = (p, id, start, end) => {
    for (const s of p.slots.values()) {
      if (s.id !== id && Date.parse(s.start) < end && start < Date.parse(s.end)) return true;
    }
    return false;
  };

  let io;
  const publish = (providerId, action, slot, seq) => {
    io.to(`provider-${providerId}`).emit('availabilityUpdated', {
      action,
      providerId,
      slot,
      seq,
      at: new Date().toISOString(),
    });
  };

  const slotsRoute = /^\/api\/v1\/providers\/([A-Za-z0-9_-]{1,64})\/slots(?:\/(\d+))?$/;

  const handle = async (req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/healthz') return send(res, 200, { status: 'ok' });

    if (url === '/api/v1/dev/emit' && req.method === 'POST') {
      if (!authorize(bearer(req))) return problem(res, 401, 'missing or invalid token');
      const body = await readJSON(req, 1 << 20);
      if (!body || typeof body.event !== 'string' || body.event === '') return problem(res, 400, 'event is required', 'event');
      const count = body.count === undefined ? 1 : body.count;
      if (!Number.isInteger(count) || count < 1 || count > 100000) return problem(res, 400, 'count must be 1..100000', 'count');
      const target = typeof body.room === 'string' && body.room !== '' ? io.to(body.room) : io;
      for (let i = 0; i < count; i++) target.emit(body.event, body.data);
      return send(res, 202, { emitted: count });
    }

    const m = slotsRoute.exec(url);
    if (m) {
      const [, providerId, slotIdText] = m;
      if (!authorize(bearer(req))) return problem(res, 401, 'missing or invalid token');
      const p = provider(providerId);
      if (req.method === 'POST' && !slotIdText) {
        const body = await readJSON(req);
        if (!body || !validTime(body.start)) return problem(res, 400, 'start must be an RFC 3339 time', 'start');
        if (!validTime(body.end)) return problem(res, 400, 'end must be an RFC 3339 time', 'end');
        const start = Date.parse(body.start);
        const end = Date.parse(body.end);
        if (!(start < end)) return problem(res, 400, 'start must be before end', 'start');
        if (overlaps(p, 0, start, end)) return problem(res, 409, 'overlaps another slot');
        const now = new Date().toISOString();
        const slot = {
          id: nextSlotId++,
          providerId,
          start: new Date(start).toISOString(),
          end: new Date(end).toISOString(),
          status: body.status || 'available',
          note: body.note || '',
          version: 1,
          createdAt: now,
          updatedAt: now,
        };
        p.slots.set(slot.id, slot);
        p.seq++;
        if (opts.redisURL) io.serverSideEmit('slotCreated', providerId, slot);
        publish(providerId, 'created', slot, p.seq);
        return send(res, 201, slot);
      }
      if (req.method === 'PATCH' && slotIdText) {
        const slot = p.slots.get(Number(slotIdText));
        if (!slot) return problem(res, 404, 'slot not found');
        const body = await readJSON(req);
        if (!body || typeof body !== 'object') return problem(res, 400, 'body must be an object');
        const next = { ...slot };
        if (body.start !== undefined) {
          if (!validTime(body.start)) return problem(res, 400, 'start must be an RFC 3339 time', 'start');
          next.start = new Date(Date.parse(body.start)).toISOString();
        }
        if (body.end !== undefined) {
          if (!validTime(body.end)) return problem(res, 400, 'end must be an RFC 3339 time', 'end');
          next.end = new Date(Date.parse(body.end)).toISOString();
        }
        if (body.status !== undefined) next.status = body.status;
        if (body.note !== undefined) {
          if (typeof body.note !== 'string' || [...body.note].length > 500) return problem(res, 400, 'note must be at most 500 characters', 'note');
          next.note = body.note;
        }
        if (!(Date.parse(next.start) < Date.parse(next.end))) return problem(res, 400, 'start must be before end', 'start');
        if (overlaps(p, slot.id, Date.parse(next.start), Date.parse(next.end))) return problem(res, 409, 'overlaps another slot');
        next.version++;
        next.updatedAt = new Date().toISOString();
        p.slots.set(next.id, next);
        p.seq++;
        publish(providerId, 'updated', next, p.seq);
        return send(res, 200, next);
      }
      return problem(res, 405, 'method not allowed');
    }
    return problem(res, 404, 'not found');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => problem(res, err.status || 500, err.message));
  });

  const redisClients = [];
  let adapter;
  if (opts.redisURL) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pub = createClient({ url: opts.redisURL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    redisClients.push(pub, sub);
    adapter = createAdapter(pub, sub, { key: opts.redisKey });
  }
  io = new Server(server, { serveClient: false, adapter });
  // Slots created on another node of the cluster (see the head comment).
  io.on('slotCreated', (providerId, slot) => {
    const p = provider(providerId);
    p.slots.set(slot.id, slot);
    p.seq++;
    nextSlotId = Math.max(nextSlotId, slot.id + 1);
  });
  io.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (!authorize(token)) return next(new Error('unauthorized'));
    next();
  });
  io.on('connection', (socket) => {
    socket.on('joinRoom', (room) => {
      if (typeof room !== 'string' || !/^provider-[A-Za-z0-9_-]{1,64}$/.test(room)) {
        socket.emit('error', { message: 'invalid room' });
        return;
      }
      socket.join(room);
      socket.emit('joinedRoom', { room });
    });
    socket.on('leaveRoom', (room) => {
      if (typeof room !== 'string') return;
      socket.leave(room);
      socket.emit('leftRoom', { room });
    });
  });

  // The same accept backlog Go's listener takes (net.core.somaxconn), so a
  // burst of dials meets the same queue on both servers.
  server.listen({ port: opts.port, host: opts.host, backlog: 4096 }, () => {
    const { port } = server.address();
    process.stdout.write(`reference listening on http://${opts.host}:${port} pid ${process.pid}\n`);
  });
  const stop = () => {
    io.close();
    for (const c of redisClients) c.quit().catch(() => {});
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`reference: ${err.stack || err}\n`);
  process.exit(1);
});
