/** One availability slot as the REST API and availabilityUpdated carry it. */
export interface Slot {
  id: number;
  providerId: string;
  /** RFC 3339. */
  start: string;
  /** RFC 3339. */
  end: string;
  status: 'available' | 'booked' | 'blocked';
  note: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** Body of POST /api/v1/providers/{id}/slots. */
export interface SlotCreate {
  start: string;
  end: string;
  status?: Slot['status'];
  note?: string;
}

/** Payload of the server's availabilityUpdated event. */
export interface AvailabilityChange {
  action: 'created' | 'updated' | 'deleted';
  providerId: string;
  slot: Slot;
  /** Rises by exactly one per change of this provider; a gap means a missed event. */
  seq: number;
  at: string;
}

/** A page of GET /api/v1/providers/{id}/events (api/openapi.yaml, EventPage). */
export interface EventPage {
  providerId: string;
  /** The provider's current seq; page on while the last event's seq is below it. */
  seq: number;
  events: AvailabilityChange[];
}

/** application/problem+json as the server sends it on every 4xx/5xx. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  field?: string;
  errors?: { field: string; message: string }[];
}

/** The room name the server uses for a provider. */
export function providerRoom(providerId: string): string {
  return `provider-${providerId}`;
}

/** Orders slots by start, then id, so the list is stable. */
export function byStart(a: Slot, b: Slot): number {
  const d = Date.parse(a.start) - Date.parse(b.start);
  return d !== 0 ? d : a.id - b.id;
}

/**
 * Applies one change to a list of slots and returns the new list, sorted.
 * It is idempotent: a created/updated slot replaces the one with the same id
 * unless that one is newer, and deleting a missing slot changes nothing, so a
 * change that a fresh REST snapshot already contains does no harm.
 */
export function applyChange(slots: readonly Slot[], change: AvailabilityChange): Slot[] {
  const rest = slots.filter((s) => s.id !== change.slot.id);
  if (change.action === 'deleted') {
    return rest;
  }
  const current = slots.find((s) => s.id === change.slot.id);
  if (current && current.version > change.slot.version) {
    return [...slots];
  }
  return [...rest, change.slot].sort(byStart);
}
