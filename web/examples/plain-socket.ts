// docs/angular.md, "Typed events with socket.io-client": the plain client with the contract's types.
// Type-checked by test/e2e/contract.test.mjs (`npx tsc -p tsconfig.examples.json` in web/).
import { io, Socket } from 'socket.io-client';

import type {
  Change,
  ClientToServerEvents,
  ServerToClientEvents,
} from '../src/app/contract/eventide-contract';

export async function watchProvider(token: string, onChange: (c: Change) => void): Promise<Socket> {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io('https://rt.example.com', {
    auth: { token }, // socket.io-client 3.x and 4.x send it in the CONNECT packet
    ackTimeout: 5000, // emitWithAck rejects after 5 s without an ack
  });

  socket.on('availabilityUpdated', (change) => onChange(change)); // change: Change
  socket.on('exception', (e) => console.error(e.message, e.cause?.event, e.cause?.room));
  socket.on('connect_error', (err) => console.error('refused:', err.message));

  const ack = await socket.emitWithAck('joinRoom', { room: 'provider-42' }); // ack: RoomAck
  if (ack.status === 'ok') {
    console.log('joined', ack.room);
  } else {
    console.error('refused:', ack.message);
  }
  return socket;
}
