import { Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed, toSignal } from '@angular/core/rxjs-interop';
import { FormsModule } from '@angular/forms';

import { TokenService } from '../auth/token.service';
import { ConnectionState, WebsocketService } from '../realtime/websocket.service';
import type { Change, Slot, SlotStatus } from '../contract/eventide-contract';
import { ApiError, AvailabilityApiService } from './availability-api.service';
import { applyChange, byStart, providerRoom } from './slot';

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
 * Order of work on join: join the room first, then fetch the list over REST,
 * holding back the events that arrive meanwhile. The list states the seq it
 * is at; the held-back events with a higher seq are applied on top of it, in
 * seq order. Nothing is lost between the list and the first event, and
 * applying a change the list already has is harmless (applyChange is
 * idempotent by slot version).
 *
 * After that each availabilityUpdated is applied when its seq is the last
 * one plus one, and dropped when it is not above it (a duplicate). A gap
 * means events were missed: the component asks the server for the changes
 * after its last seq (GET .../events?after=) and applies them, and only when
 * the server no longer has them (410, past retention) does it fetch the
 * whole list again. A re-join after a reconnect catches up the same way.
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
  protected readonly newStatus = signal<SlotStatus>('available');
  protected readonly newNote = signal('');

  /** True while the list or a catch-up is being fetched: events wait in `buffered`. */
  private syncing = false;
  private buffered: Change[] = [];

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
        void this.catchUp('re-joined after reconnect');
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
    // Hold back the room's events until the list tells which are new.
    this.syncing = true;
    this.buffered = [];
    const ack = await this.ws.joinProviderRoom(id);
    if (this.provider() !== id) return; // another join started meanwhile
    if (ack.status !== 'ok') {
      this.syncing = false;
      this.buffered = [];
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

  /**
   * Fetches the whole list again, with the seq it is at, and applies the
   * events held back meanwhile that come after it.
   */
  protected async refetch(why: string): Promise<void> {
    const id = this.provider();
    if (id === null) return;
    this.syncing = true;
    this.loading.set(true);
    this.addLog('info', `fetching slots over REST (${why})`);
    try {
      const list = await this.api.listSlots(this.tokens.token(), id);
      if (this.provider() !== id) return;
      this.slots.set([...list.slots].sort(byStart));
      this.lastSeq.set(list.seq);
      this.restError.set('');
      const left = this.drain();
      if (left.length > 0) {
        // The server's list is newer than anything it could still send
        // for these: they are not real changes of this provider.
        this.addLog('error', `ignored ${left.length} event(s) with a seq the server does not have (${left.map((c) => c.seq).join(', ')})`);
      }
    } catch (err) {
      this.restError.set(err instanceof Error ? err.message : String(err));
      this.addLog('error', `fetch failed: ${this.restError()}`);
    } finally {
      if (this.provider() === id) {
        this.syncing = false;
        this.buffered = [];
        this.loading.set(false);
      }
    }
  }

  /**
   * Asks the server for the changes after the last seq applied
   * (GET .../events?after=, page by page) and applies them, then the events
   * held back meanwhile. When the server no longer keeps them (410), or they
   * do not close the gap, it falls back to refetch.
   */
  protected async catchUp(why: string): Promise<void> {
    const id = this.provider();
    const from = this.lastSeq();
    if (id === null) return;
    if (from === null || this.syncing) {
      if (from === null) await this.refetch(why);
      return; // a fetch in flight applies what arrives meanwhile
    }
    this.syncing = true;
    this.addLog('info', `catching up over REST from seq ${from} (${why})`);
    let fallback = '';
    try {
      let slots = this.slots();
      let last = from;
      for (;;) {
        const page = await this.api.listEvents(this.tokens.token(), id, last);
        if (this.provider() !== id) return;
        for (const c of page.events) {
          if (c.seq === last + 1) {
            slots = applyChange(slots, c);
            last = c.seq;
          }
        }
        if (page.events.length === 0 || last >= page.seq) break;
      }
      this.slots.set(slots);
      this.lastSeq.set(last);
      this.restError.set('');
      this.addLog('info', last > from ? `caught up ${last - from} change(s) over REST (seq ${from + 1}–${last})` : `nothing to catch up after seq ${from}`);
      const left = this.drain();
      if (left.length > 0) {
        this.buffered = left;
        fallback = `the server has no seq ${this.lastSeq()! + 1}–${left[0].seq - 1}`;
      }
    } catch (err) {
      if (err instanceof ApiError && err.problem.status === 410) {
        fallback = `changes after seq ${from} are past retention (410)`;
      } else {
        this.restError.set(err instanceof Error ? err.message : String(err));
        this.addLog('error', `catch-up failed: ${this.restError()}`);
      }
    } finally {
      if (this.provider() === id && !fallback) {
        this.syncing = false;
        this.drain();
        this.buffered = [];
      }
    }
    if (fallback && this.provider() === id) {
      this.addLog('error', `${fallback}; refetching`);
      await this.refetch(fallback);
    }
  }

  /**
   * Applies the held-back events that follow lastSeq, in seq order, and
   * returns those left after a gap (an empty list when there is none).
   */
  private drain(): Change[] {
    const events = [...this.buffered].sort((a, b) => a.seq - b.seq);
    this.buffered = [];
    let slots = this.slots();
    let last = this.lastSeq() ?? 0;
    let i = 0;
    for (; i < events.length; i++) {
      const c = events[i];
      if (c.seq <= last) continue; // the list or the catch-up had it
      if (c.seq !== last + 1) break;
      slots = applyChange(slots, c);
      last = c.seq;
    }
    this.slots.set(slots);
    this.lastSeq.set(last);
    return events.slice(i).filter((c) => c.seq > last);
  }

  private onChange(c: Change): void {
    if (c.providerId !== this.provider() || this.roomStatus() === 'refused') return;
    this.addLog('event', `${c.action} slot ${c.slot.id} (seq ${c.seq})`);
    if (this.syncing) {
      this.buffered.push(c);
      return;
    }
    const last = this.lastSeq() ?? 0;
    if (c.seq <= last) {
      return; // already applied (a duplicate or an old event)
    }
    if (c.seq > last + 1) {
      const missed = c.seq - last - 1;
      this.addLog('error', `missed ${missed} event${missed > 1 ? 's' : ''} (seq ${last + 1}–${c.seq - 1}); catching up`);
      this.buffered.push(c);
      void this.catchUp('seq gap');
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
      return ` (${s.transport}${s.recovered ? ', recovered: missed events replayed' : ''})`;
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
