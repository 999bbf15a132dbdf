import type { Change, RoomName, Slot } from '../contract/eventide-contract';

// The wire types (Slot, SlotCreate, Change, EventPage, Problem, ...) are
// generated from api/openapi.yaml and api/asyncapi.yaml into
// ../contract/eventide-contract.ts; this file has what the dashboard does
// with them.

/** The room name the server uses for a provider. */
export function providerRoom(providerId: string): RoomName {
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
export function applyChange(slots: readonly Slot[], change: Change): Slot[] {
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
