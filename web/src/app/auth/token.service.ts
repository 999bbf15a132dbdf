import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import { Injectable, computed, inject, signal } from '@angular/core';
import { firstValueFrom } from 'rxjs';

import { EVENTIDE_CONFIG } from '../config';
import { ApiError, localProblem } from '../availability/availability-api.service';
import type { Problem, TokenRequest, TokenResponse } from '../contract/eventide-contract';

/** A role a token can have. */
export type Role = NonNullable<TokenRequest['role']>;

/** What the dashboard can read from a token's payload (not verified here: the server verifies). */
export interface TokenClaims {
  sub?: string;
  role?: string;
  provider_id?: string;
  providers?: string[] | string;
  exp?: number;
}

/**
 * TokenService holds the token the dashboard uses for REST calls and the
 * Socket.IO handshake. A token comes from the server's dev endpoint (only in
 * --env dev) or is pasted, e.g. one printed by `eventide token`.
 */
@Injectable({ providedIn: 'root' })
export class TokenService {
  private readonly http = inject(HttpClient);
  private readonly config = inject(EVENTIDE_CONFIG);

  /** The current token, '' when there is none. */
  readonly token = signal('');
  /** The token's payload, decoded for display only. */
  readonly claims = computed(() => decodeClaims(this.token()));

  /** Asks the dev endpoint for a token and keeps it. */
  async fetchDevToken(req: TokenRequest): Promise<string> {
    try {
      const res = await firstValueFrom(
        this.http.post<TokenResponse>(`${this.config.apiUrl}/api/v1/dev/token`, req),
      );
      this.token.set(res.token);
      return res.token;
    } catch (err) {
      const status = err instanceof HttpErrorResponse ? err.status : 0;
      if (status === 404) {
        // The route exists only with --env dev.
        throw new ApiError(
          localProblem('Dev tokens are off', status, 'the server does not run with --env dev; paste a token instead'),
        );
      }
      if (err instanceof HttpErrorResponse && err.error && typeof err.error === 'object' && 'title' in err.error) {
        throw new ApiError(err.error as Problem);
      }
      throw new ApiError(
        localProblem('Could not get a dev token', status, err instanceof HttpErrorResponse ? err.message : String(err)),
      );
    }
  }

  /** Keeps a pasted token (surrounding blanks and a "Bearer " prefix removed). */
  use(token: string): void {
    this.token.set(token.trim().replace(/^Bearer\s+/i, ''));
  }
}

/** Decodes a JWT's payload without verifying it; null when it is not a JWT. */
export function decodeClaims(token: string): TokenClaims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const json = decodeURIComponent(
      Array.from(atob(padded), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    return JSON.parse(json) as TokenClaims;
  } catch {
    return null;
  }
}
