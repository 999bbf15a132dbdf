import { Injectable, OnDestroy, inject } from '@angular/core';
import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { io, Socket } from 'socket.io-client';

import { EVENTIDE_CONFIG } from '../config';
import { providerRoom } from '../availability/slot';
import type {
  Change,
  ClientToServerEvents,
  RoomAck,
  ServerException,
  ServerToClientEvents,
} from '../contract/eventide-contract';

/**
 * The Socket.IO socket, typed by the realtime contract (api/asyncapi.yaml):
 * an event name, a payload or an ack the contract does not have is a
 * compile error, and every listener's argument has the contract's type.
 */
export type EventideSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Where the Socket.IO connection stands, and why. */
export type ConnectionState =
  | { kind: 'disconnected'; reason: string }
  | { kind: 'connecting' }
  /**
   * recovered: the server restored the previous session (connection-state
   * recovery): same socket id, same rooms, and the events missed while
   * disconnected were delivered, in order, as ordinary events.
   */
  | { kind: 'connected'; id: string; transport: string; recovered?: boolean }
  | { kind: 'reconnecting'; attempt: number; reason: string }
  /** The server rejected the handshake (missing, forged or expired token); no retry. */
  | { kind: 'refused'; reason: string };

/** How long a joinRoom/leaveRoom waits for its ack. */
const ACK_TIMEOUT_MS = 5000;

/**
 * WebsocketService is the dashboard's one Socket.IO connection to Eventide.
 *
 * It wraps socket.io-client 4.x: it authenticates with the token in the
 * handshake (`auth: { token }`), joins and leaves provider rooms, remembers
 * the rooms it joined so it can join them again after a reconnect (Socket.IO
 * rooms live on the server-side socket, which a reconnect replaces), and turns
 * the socket's events into observables the components consume.
 */
@Injectable({ providedIn: 'root' })
export class WebsocketService implements OnDestroy {
  private readonly config = inject(EVENTIDE_CONFIG);
  private socket?: EventideSocket;
  private readonly rooms = new Set<string>();

  private readonly state = new BehaviorSubject<ConnectionState>({
    kind: 'disconnected',
    reason: 'waiting for a token (get a dev token or paste one)',
  });
  private readonly changes = new Subject<Change>();
  private readonly exceptions = new Subject<ServerException>();
  private readonly joined = new Subject<string>();
  private readonly left = new Subject<string>();

  /** The connection state; replays the current one to new subscribers. */
  readonly connectionState$: Observable<ConnectionState> = this.state.asObservable();
  /** Every availabilityUpdated of every joined room. */
  readonly availabilityUpdated$: Observable<Change> = this.changes.asObservable();
  /** The server's refusals (e.g. joining a room the token does not allow). */
  readonly exceptions$: Observable<ServerException> = this.exceptions.asObservable();
  /** A room the server confirmed (joinedRoom), also after each automatic re-join. */
  readonly joinedRoom$: Observable<string> = this.joined.asObservable();
  /** A room the server confirmed leaving (leftRoom). */
  readonly leftRoom$: Observable<string> = this.left.asObservable();

  /** The current state, for code that does not want to subscribe. */
  get currentState(): ConnectionState {
    return this.state.value;
  }

  /**
   * Opens a connection authenticated with token, closing any previous one.
   * The rooms joined before are joined again once the new connection is up.
   */
  connect(token: string): void {
    this.closeSocket();
    this.state.next({ kind: 'connecting' });
    const socket: EventideSocket = io(this.config.socketUrl ?? window.location.origin, {
      path: this.config.socketPath,
      auth: { token },
      // Long-polling first, then upgrade: the client library's default, and
      // the path that works through every proxy.
      reconnectionDelayMax: 10_000,
      // How long joinRoom/leaveRoom wait for their ack. Set here rather than
      // with socket.timeout(ms): socket.io-client 4.8's types make
      // timeout(ms).emitWithAck(...) resolve to any, emitWithAck alone to
      // the contract's ack type.
      ackTimeout: ACK_TIMEOUT_MS,
    });
    this.socket = socket;

    socket.on('connect', () => {
      this.state.next({
        kind: 'connected',
        id: socket.id ?? '',
        transport: socket.io.engine?.transport?.name ?? '',
        recovered: socket.recovered,
      });
      socket.io.engine?.once('upgrade', (t: { name: string }) => {
        if (this.socket === socket && socket.connected) {
          this.state.next({ kind: 'connected', id: socket.id ?? '', transport: t.name });
        }
      });
      // A recovered connection (connection-state recovery, within the
      // server's --recovery-window) is the same server-side socket: it is
      // in its rooms, and the events missed meanwhile arrive as ordinary
      // events, in order. Nothing to re-join, nothing to catch up.
      if (socket.recovered) return;
      // Otherwise Socket.IO rooms belong to the server-side socket, which a
      // reconnect (or a new token) replaces: join the remembered rooms again
      // (the availability view then catches up over REST). A refusal (say,
      // the new token may not watch the room) also arrives on exceptions$;
      // the room is then forgotten.
      for (const room of this.rooms) {
        void this.emitRoom(socket, 'joinRoom', room).then((ack) => {
          if (ack.status !== 'ok') this.rooms.delete(room);
        });
      }
    });
    socket.on('connect_error', (err: Error) => {
      // socket.active is false when the server refused the handshake (the
      // middleware's error): the client will not retry, the token must change.
      // Otherwise the transport failed and the manager retries by itself.
      if (socket.active) {
        this.state.next({ kind: 'reconnecting', attempt: 0, reason: err.message });
      } else {
        this.state.next({ kind: 'refused', reason: err.message });
      }
    });
    socket.on('disconnect', (reason: string, details?: unknown) => {
      const why = describeDisconnect(reason, details);
      this.state.next(
        socket.active
          ? { kind: 'reconnecting', attempt: 0, reason: why }
          : { kind: 'disconnected', reason: why },
      );
    });
    socket.io.on('reconnect_attempt', (attempt: number) => {
      const prev = this.state.value;
      const reason = prev.kind === 'reconnecting' ? prev.reason : 'connection lost';
      this.state.next({ kind: 'reconnecting', attempt, reason });
    });

    // The listeners' arguments are typed by ServerToClientEvents.
    socket.on('availabilityUpdated', (change) => this.changes.next(change));
    socket.on('exception', (e) => this.exceptions.next(e));
    socket.on('joinedRoom', ({ room }) => this.joined.next(room));
    socket.on('leftRoom', ({ room }) => this.left.next(room));
  }

  /** Closes the connection and forgets the joined rooms. */
  disconnect(): void {
    this.closeSocket();
    this.rooms.clear();
    this.state.next({ kind: 'disconnected', reason: 'closed by the dashboard' });
  }

  /**
   * Joins provider-<id>. Resolves with the server's ack; a refusal resolves
   * with status "error" and its message (the server also emits `exception`).
   * The room is remembered only when the server accepted it.
   */
  async joinProviderRoom(providerId: string): Promise<RoomAck> {
    const room = providerRoom(providerId);
    const socket = this.requireSocket();
    const ack = await this.emitRoom(socket, 'joinRoom', room);
    if (ack.status === 'ok') {
      this.rooms.add(room);
    }
    return ack;
  }

  /** Leaves provider-<id> and stops re-joining it after reconnects. */
  async leaveProviderRoom(providerId: string): Promise<RoomAck> {
    const room = providerRoom(providerId);
    this.rooms.delete(room);
    const socket = this.requireSocket();
    return this.emitRoom(socket, 'leaveRoom', room);
  }

  ngOnDestroy(): void {
    this.closeSocket();
  }

  private requireSocket(): EventideSocket {
    if (!this.socket) {
      throw new Error('not connected: call connect(token) first');
    }
    return this.socket;
  }

  private async emitRoom(socket: EventideSocket, event: 'joinRoom' | 'leaveRoom', room: string): Promise<RoomAck> {
    try {
      // emitWithAck buffers while disconnected and sends once connected.
      return await socket.emitWithAck(event, { room });
    } catch {
      return { status: 'error', message: `${event} got no answer within ${ACK_TIMEOUT_MS / 1000} s` };
    }
  }

  private closeSocket(): void {
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.io.removeAllListeners();
      this.socket.disconnect();
      this.socket = undefined;
    }
  }
}

/** Turns socket.io-client's disconnect reason into words for the UI. */
function describeDisconnect(reason: string, details?: unknown): string {
  const extra =
    details instanceof Error
      ? `: ${details.message}`
      : details && typeof details === 'object' && 'description' in details
        ? `: ${String((details as { description: unknown }).description)}`
        : '';
  switch (reason) {
    case 'io server disconnect':
      return 'the server closed the connection';
    case 'io client disconnect':
      return 'closed by the dashboard';
    case 'ping timeout':
      return 'the server stopped answering (ping timeout)';
    case 'transport close':
      return 'the connection was closed' + extra;
    case 'transport error':
      return 'the connection failed' + extra;
    case 'parse error':
      return 'the server sent a packet the client could not parse';
    default:
      return reason + extra;
  }
}
