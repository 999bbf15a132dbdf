import { HttpClient, HttpErrorResponse, HttpHeaders } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';

import { EVENTIDE_CONFIG } from '../config';
import { EventPage, Problem, Slot, SlotCreate } from './slot';

/** The slot list response (api/openapi.yaml, SlotList). */
export interface SlotList {
  providerId: string;
  /** The provider's seq, read before the slots: apply only changes after it. */
  seq: number;
  slots: Slot[];
}

/**
 * AvailabilityApiService is the REST side: reading a provider's slots (and,
 * for completeness, writing them). Every call carries the Bearer token.
 */
@Injectable({ providedIn: 'root' })
export class AvailabilityApiService {
  private readonly http = inject(HttpClient);
  private readonly config = inject(EVENTIDE_CONFIG);

  /** GET /api/v1/providers/{id}/slots, optionally limited to [from, to): the slots and the seq they are at. */
  async listSlots(
    token: string,
    providerId: string,
    window?: { from?: string; to?: string },
  ): Promise<{ slots: Slot[]; seq: number }> {
    const params: Record<string, string> = {};
    if (window?.from) params['from'] = window.from;
    if (window?.to) params['to'] = window.to;
    const body = await this.call(
      this.http.get<SlotList>(this.slotsUrl(providerId), { headers: auth(token), params }),
    );
    return { slots: body.slots ?? [], seq: body.seq ?? 0 };
  }

  /**
   * GET /api/v1/providers/{id}/events?after=<seq>: the changes after a seq, one
   * page. Rejects with an ApiError of status 410 when they are past retention.
   */
  listEvents(token: string, providerId: string, after: number, limit = 500): Promise<EventPage> {
    const url = `${this.config.apiUrl}/api/v1/providers/${encodeURIComponent(providerId)}/events`;
    return this.call(
      this.http.get<EventPage>(url, { headers: auth(token), params: { after: String(after), limit: String(limit) } }),
    );
  }

  /** POST /api/v1/providers/{id}/slots. */
  createSlot(token: string, providerId: string, slot: SlotCreate): Promise<Slot> {
    return this.call(this.http.post<Slot>(this.slotsUrl(providerId), slot, { headers: auth(token) }));
  }

  /** DELETE /api/v1/providers/{id}/slots/{slotId}. */
  async deleteSlot(token: string, providerId: string, slotId: number): Promise<void> {
    await this.call(this.http.delete<void>(`${this.slotsUrl(providerId)}/${slotId}`, { headers: auth(token) }));
  }

  private slotsUrl(providerId: string): string {
    return `${this.config.apiUrl}/api/v1/providers/${encodeURIComponent(providerId)}/slots`;
  }

  private async call<T>(req: import('rxjs').Observable<T>): Promise<T> {
    try {
      return await firstValueFrom(req);
    } catch (err) {
      throw new ApiError(toProblem(err));
    }
  }
}

/** An error response of the REST API, carrying its problem+json body. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(describeProblem(problem));
    this.name = 'ApiError';
  }
}

/** "403 Forbidden: token may not read provider 42" or with the field named. */
export function describeProblem(p: Problem): string {
  const head = p.status ? `${p.status} ${p.title}` : p.title;
  const detail = p.detail ? `: ${p.detail}` : '';
  const field = p.field ? ` (field ${p.field})` : '';
  return head + detail + field;
}

function auth(token: string): HttpHeaders {
  return new HttpHeaders({ Authorization: `Bearer ${token}` });
}

function toProblem(err: unknown): Problem {
  if (err instanceof HttpErrorResponse) {
    const body = err.error;
    if (body && typeof body === 'object' && 'title' in body) {
      return body as Problem;
    }
    if (err.status === 0) {
      return { title: 'Server unreachable', status: 0, detail: err.message };
    }
    return { title: err.statusText || 'Request failed', status: err.status, detail: typeof body === 'string' ? body : undefined };
  }
  return { title: 'Request failed', status: 0, detail: err instanceof Error ? err.message : String(err) };
}
