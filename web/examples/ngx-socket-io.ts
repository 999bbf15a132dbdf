// docs/angular.md, "With ngx-socket-io": a typed socket whose handshake carries the token, without a cast.
// Type-checked by test/e2e/contract.test.mjs (`npx tsc -p tsconfig.examples.json` in web/).
import { ApplicationRef, EnvironmentProviders, Injectable, inject, signal } from '@angular/core';
import { Socket, SocketIoConfig, provideSocketIo } from 'ngx-socket-io';
import type { ManagerOptions, SocketOptions } from 'socket.io-client';

import type {
  ClientToServerEvents,
  RoomAck,
  ServerToClientEvents,
} from '../src/app/contract/eventide-contract';

/**
 * ngx-socket-io types `options` as Partial<ManagerOptions>, which has no `auth` (socket.io-client keeps it
 * in SocketOptions): widen the type instead of casting.
 */
export interface EventideSocketConfig extends SocketIoConfig {
  options?: Partial<ManagerOptions & SocketOptions>;
}

/**
 * When the token is known at bootstrap, the widened config goes to provideSocketIo as it is (the injected
 * `Socket` is then untyped: prefer the subclass below).
 */
export function provideEventideSocketIo(token: string): EnvironmentProviders {
  const config: EventideSocketConfig = { url: 'https://rt.example.com', options: { auth: { token } } };
  return provideSocketIo(config);
}

/** Where the app keeps its token (your auth service). */
@Injectable({ providedIn: 'root' })
export class AuthTokens {
  readonly token = signal('');
}

/**
 * The app's one Socket.IO connection, typed by the contract. `auth` is a function, so socket.io-client
 * asks it on every connect and reconnect: a renewed token is used without building a new socket.
 */
@Injectable({ providedIn: 'root' })
export class EventideSocket extends Socket<ServerToClientEvents, ClientToServerEvents> {
  constructor() {
    const tokens = inject(AuthTokens);
    const config: EventideSocketConfig = {
      url: window.location.origin, // or 'https://rt.example.com' (listed in the server's --cors-origins)
      options: {
        path: '/socket.io/',
        autoConnect: false, // connect once there is a token
        auth: (cb) => cb({ token: tokens.token() }),
        ackTimeout: 5000,
      },
    };
    super(config, inject(ApplicationRef));
  }
}

/** A provider's changes, as a component would use them. */
@Injectable({ providedIn: 'root' })
export class ProviderFeed {
  private readonly socket = inject(EventideSocket);

  /** Observable<Change>, typed by ServerToClientEvents. */
  readonly changes$ = this.socket.fromEvent('availabilityUpdated');
  /** Observable<ServerException>. */
  readonly exceptions$ = this.socket.fromEvent('exception');

  start(): void {
    this.socket.connect();
  }

  /** Resolves with the server's ack: { status: 'ok', room } or { status: 'error', message }. */
  join(providerId: string): Promise<RoomAck> {
    return this.socket.emitWithAck('joinRoom', { room: `provider-${providerId}` });
  }
}
