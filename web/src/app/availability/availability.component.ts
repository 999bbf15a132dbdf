import { Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed, toSignal } from '@angular/core/rxjs-interop';
import { FormsModule } from '@angular/forms';

import { TokenService } from '../auth/token.service';
import { ConnectionState, WebsocketService } from '../realtime/websocket.service';
import { AvailabilityApiService } from './availability-api.service';
import { AvailabilityChange, Slot, applyChange, byStart, providerRoom } from './slot';

type RoomStatus = 'none' | 'joining' | 'joined' | 'refused';

interface LogEntry {
  at: Date;
  kind: 'event' | 'info' | 'error';
  text: string;
}

const LOG_SIZE = 30;

/**
 * AvailabilityComponent shows one provider's slots, live.
 *
 * Order of work on join: join the room first, then fetch over REST, holding
 * back the events that arrive during the fetch and applying them on top of
 * the snapshot. Nothing is lost between the snapshot and the first event,
 * and applying a change the snapshot already has is harmless (applyChange is
 * idempotent). After that each availabilityUpdated is applied as it comes;
 * when its seq is not the previous one plus one, an event was missed and the
 * list is fetched again. A re-join after a reconnect also refetches.
 */
@Component({
  selector: 'app-availability',
  imports: [FormsModule],
  templateUrl: './availability.component.html',
})
export class AvailabilityComponent {
  private readonly ws = inject(WebsocketService);
  private readonly api = inject(AvailabilityApiService);
  private readonly tokens = inject(TokenService);

  protected readonly providerInput = signal('42');
  /** The provider whose room this component is in (or joining). */
  protected readonly provider = signal<string | null>(null);
  protected readonly roomStatus = signal<RoomStatus>('none');
  protected readonly slots = signal<Slot[]>([]);
  protected readonly lastSeq = signal<number | null>(null);
  protected readonly loading = signal(false);
  protected readonly restError = signal('');
  protected readonly refusal = signal('');
  protected readonly log = signal<LogEntry[]>([]);

  protected readonly state = toSignal(this.ws.connectionState$, { requireSync: true });
  protected readonly stateReason = computed(() => describeState(this.state()));
  protected readonly canJoin = computed(() => this.tokens.token() !== '' && this.state().kind !== 'refused');

  // The new-slot form.
  protected readonly newStart = signal(defaultStart());
  protected readonly newMinutes = signal(60);
  protected readonly newStatus = signal<Slot['status']>('available');
  protected readonly newNote = signal('');

  private buffering = false;
  private buffered: AvailabilityChange[] = [];

  constructor() {
    const destroyRef = inject(DestroyRef);
    this.ws.availabilityUpdated$.pipe(takeUntilDestroyed(destroyRef)).subscribe((c) => this.onChange(c));
    this.ws.exceptions$.pipe(takeUntilDestroyed(destroyRef)).subscribe((e) => {
      const room = e.cause?.room;
      this.addLog('error', `server refused ${e.cause?.event ?? 'a request'}${room ? ' ' + room : ''}: ${e.message}`);
      const mine = this.provider();
      if (mine !== null && (!room || room === providerRoom(mine))) {
        this.refusal.set(e.message);
        this.roomStatus.set('refused');
        this.slots.set([]);
        this.lastSeq.set(null);
      }
    });
    this.ws.joinedRoom$.pipe(takeUntilDestroyed(destroyRef)).subscribe((room) => {
      const mine = this.provider();
      if (mine === null || room !== providerRoom(mine)) return;
      this.addLog('info', `joined ${room}`);
      // A join confirmed while already joined is the automatic re-join after
      // a reconnect: events may have been missed meanwhile.
      if (this.roomStatus() === 'joined') {
        void this.refetch('re-joined after reconnect');
      }
    });
    this.ws.connectionState$.pipe(takeUntilDestroyed(destroyRef)).subscribe((s) => {
      this.addLog(s.kind === 'refused' ? 'error' : 'info', `connection ${s.kind}${reasonOf(s)}`);
    });
  }

  /** Joins the provider typed in, leaving the previous one. */
  protected async join(): Promise<void> {
    const id = this.providerInput().trim();
    if (!id) return;
    const previous = this.provider();
    if (previous !== null && previous !== id && this.roomStatus() === 'joined') {
      await this.ws.leaveProviderRoom(previous);
    }
    this.provider.set(id);
    this.roomStatus.set('joining');
    this.refusal.set('');
    this.restError.set('');
    this.slots.set([]);
    this.lastSeq.set(null);
    const ack = await this.ws.joinProviderRoom(id);
    if (this.provider() !== id) return; // another join started meanwhile
    if (ack.status !== 'ok') {
      this.roomStatus.set('refused');
      this.refusal.set(ack.message ?? 'the server refused the room');
      return;
    }
    this.roomStatus.set('joined');
    await this.refetch('joined');
  }

  /** Leaves the room and clears the list. */
  protected async leave(): Promise<void> {
    const id = this.provider();
    if (id === null) return;
    this.provider.set(null);
    this.roomStatus.set('none');
    this.slots.set([]);
    this.lastSeq.set(null);
    this.refusal.set('');
    const ack = await this.ws.leaveProviderRoom(id);
    this.addLog(ack.status === 'ok' ? 'info' : 'error', ack.status === 'ok' ? `left ${providerRoom(id)}` : `leave failed: ${ack.message}`);
  }

  /** Creates a slot over REST; it shows up through availabilityUpdated like anyone else's. */
  protected async create(): Promise<void> {
    const id = this.provider();
    if (id === null) return;
    this.restError.set('');
    const start = new Date(this.newStart());
    if (isNaN(start.getTime())) {
      this.restError.set('Pick a start time.');
      return;
    }
    const end = new Date(start.getTime() + this.newMinutes() * 60_000);
    try {
      await this.api.createSlot(this.tokens.token(), id, {
        start: start.toISOString(),
        end: end.toISOString(),
        status: this.newStatus(),
        note: this.newNote(),
      });
      this.newNote.set('');
      this.newStart.set(toLocalInput(end));
    } catch (err) {
      this.restError.set(err instanceof Error ? err.message : String(err));
    }
  }

  protected async remove(slot: Slot): Promise<void> {
    this.restError.set('');
    try {
      await this.api.deleteSlot(this.tokens.token(), slot.providerId, slot.id);
    } catch (err) {
      this.restError.set(err instanceof Error ? err.message : String(err));
    }
  }

  /** Fetches the list again, keeping the events that arrive meanwhile. */
  protected async refetch(why: string): Promise<void> {
    const id = this.provider();
    if (id === null) return;
    this.buffering = true;
    this.buffered = [];
    this.loading.set(true);
    this.addLog('info', `fetching slots over REST (${why})`);
    try {
      const list = await this.api.listSlots(this.tokens.token(), id);
      if (this.provider() !== id) return;
      let slots = [...list].sort(byStart);
      let seq = this.lastSeq();
      for (const c of this.buffered) {
        slots = applyChange(slots, c);
        seq = Math.max(seq ?? 0, c.seq);
      }
      this.slots.set(slots);
      this.lastSeq.set(seq);
      this.restError.set('');
    } catch (err) {
      this.restError.set(err instanceof Error ? err.message : String(err));
      this.addLog('error', `fetch failed: ${this.restError()}`);
    } finally {
      this.buffering = false;
      this.buffered = [];
      this.loading.set(false);
    }
  }

  private onChange(c: AvailabilityChange): void {
    if (c.providerId !== this.provider() || this.roomStatus() === 'refused') return;
    this.addLog('event', `${c.action} slot ${c.slot.id} (seq ${c.seq})`);
    if (this.buffering) {
      this.buffered.push(c);
      return;
    }
    const last = this.lastSeq();
    if (last !== null && c.seq <= last) {
      return; // already applied (a duplicate or an old event)
    }
    if (last !== null && c.seq > last + 1) {
      const missed = c.seq - last - 1;
      this.addLog('error', `missed ${missed} event${missed > 1 ? 's' : ''} (seq ${last + 1}–${c.seq - 1}); refetching`);
      this.lastSeq.set(c.seq);
      void this.refetch('seq gap');
      return;
    }
    this.slots.update((s) => applyChange(s, c));
    this.lastSeq.set(c.seq);
  }

  private addLog(kind: LogEntry['kind'], text: string): void {
    this.log.update((l) => [{ at: new Date(), kind, text }, ...l].slice(0, LOG_SIZE));
  }

  protected timeRange(slot: Slot): string {
    const s = new Date(slot.start);
    const e = new Date(slot.end);
    const day = s.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
    const t = (d: Date) => d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    const sameDay = s.toDateString() === e.toDateString();
    return sameDay ? `${day}, ${t(s)}–${t(e)}` : `${day}, ${t(s)} – ${e.toLocaleDateString()} ${t(e)}`;
  }

  protected clock(d: Date): string {
    return d.toLocaleTimeString(undefined, { hour12: false });
  }
}

function reasonOf(s: ConnectionState): string {
  switch (s.kind) {
    case 'connected':
      return ` (${s.transport})`;
    case 'reconnecting':
    case 'refused':
    case 'disconnected':
      return `: ${s.reason}`;
    default:
      return '';
  }
}

/** Words under the connection badge. */
function describeState(s: ConnectionState): string {
  switch (s.kind) {
    case 'connected':
      return `socket ${s.id} over ${s.transport}`;
    case 'connecting':
      return 'opening the Socket.IO connection…';
    case 'reconnecting':
      return `${s.reason}; retrying${s.attempt ? ` (attempt ${s.attempt})` : ''}…`;
    case 'refused':
      return `the server refused the token: ${s.reason}`;
    case 'disconnected':
      return s.reason;
  }
}

/** The next full hour, in the format of <input type="datetime-local">. */
function defaultStart(): string {
  const d = new Date();
  d.setMinutes(0, 0, 0);
  d.setHours(d.getHours() + 1);
  return toLocalInput(d);
}

function toLocalInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
