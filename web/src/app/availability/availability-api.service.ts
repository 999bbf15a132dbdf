import { HttpClient, HttpErrorResponse, HttpHeaders } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';

import { EVENTIDE_CONFIG } from '../config';
import type { EventPage, Problem, Slot, SlotCreate, SlotList } from '../contract/eventide-contract';

/**
 * A bound on the pages one listSlots follows, so a server that keeps
 * answering with a cursor cannot keep the dashboard fetching forever
 * (10,000 pages are a million slots at the server's default page size).
 */
const MAX_PAGES = 10_000;

/**
 * AvailabilityApiService is the REST side: reading a provider's slots (and,
 * for completeness, writing them). Every call carries the Bearer token.
 */
@Injectable({ providedIn: 'root' })
export class AvailabilityApiService {
  private readonly http = inject(HttpClient);
  private readonly config = inject(EVENTIDE_CONFIG);

  /**
   * GET /api/v1/providers/{id}/slots, optionally limited to [from, to): every
   * page, following nextCursor, and the seq the slots are at (the first
   * page's: it was read before any slot). No ?limit= is sent, so the server's
   * page size applies whatever its --max-page-size.
   */
  async listSlots(
    token: string,
    providerId: string,
    window?: { from?: string; to?: string },
  ): Promise<{ slots: Slot[]; seq: number }> {
    const params: Record<string, string> = {};
    if (window?.from) params['from'] = window.from;
    if (window?.to) params['to'] = window.to;
    const slots: Slot[] = [];
    let seq: number | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await this.call(
        this.http.get<SlotList>(this.slotsUrl(providerId), { headers: auth(token), params }),
      );
      seq ??= body.seq;
      slots.push(...body.slots);
      if (!body.nextCursor) {
        return { slots, seq };
      }
      params['cursor'] = body.nextCursor;
    }
    throw new ApiError(localProblem('Too many pages', 0, `more than ${MAX_PAGES} pages of slots`));
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

/**
 * A problem the dashboard states itself, when the server sent none (no
 * answer, a body that is not problem+json): shown the same way.
 */
export function localProblem(title: string, status: number, detail?: string): Problem {
  return { type: 'about:blank', title, status, detail };
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
      return localProblem('Server unreachable', 0, err.message);
    }
    return localProblem(err.statusText || 'Request failed', err.status, typeof body === 'string' ? body : undefined);
  }
  return localProblem('Request failed', 0, err instanceof Error ? err.message : String(err));
}
