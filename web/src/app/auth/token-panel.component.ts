import { Component, computed, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';

import { WebsocketService } from '../realtime/websocket.service';
import type { TokenRequest } from '../contract/eventide-contract';
import { Role, TokenService } from './token.service';

/**
 * TokenPanelComponent gets the dashboard a token: from the dev endpoint
 * (role and provider chosen here) or pasted. Either way the dashboard then
 * (re)connects to Socket.IO with it.
 */
@Component({
  selector: 'app-token-panel',
  imports: [FormsModule],
  templateUrl: './token-panel.component.html',
})
export class TokenPanelComponent {
  private readonly tokens = inject(TokenService);
  private readonly ws = inject(WebsocketService);

  protected readonly role = signal<Role>('provider');
  protected readonly providerId = signal('42');
  protected readonly watched = signal('42');
  protected readonly pasted = signal('');
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  protected readonly claims = this.tokens.claims;
  protected readonly hasToken = computed(() => this.tokens.token() !== '');
  protected readonly expires = computed(() => {
    const exp = this.claims()?.exp;
    return exp ? new Date(exp * 1000).toLocaleString() : '';
  });
  protected readonly providersText = computed(() => {
    const p = this.claims()?.providers;
    return Array.isArray(p) ? p.join(', ') : (p ?? '');
  });

  /** Asks the server for a dev token and connects with it. */
  protected async getDevToken(): Promise<void> {
    this.error.set('');
    this.busy.set(true);
    const req: TokenRequest = { role: this.role(), sub: 'dashboard' };
    if (this.role() === 'provider') {
      req.providerId = this.providerId().trim();
    } else if (this.role() === 'client') {
      const list = this.watched().trim();
      req.providers = list === '*' ? '*' : list.split(',').map((s) => s.trim()).filter(Boolean);
    }
    try {
      const token = await this.tokens.fetchDevToken(req);
      this.ws.connect(token);
    } catch (err) {
      this.error.set(err instanceof Error ? err.message : String(err));
    } finally {
      this.busy.set(false);
    }
  }

  /** Uses the pasted token and connects with it. */
  protected usePasted(): void {
    this.error.set('');
    const token = this.pasted().trim();
    if (!token) {
      this.error.set('Paste a token first.');
      return;
    }
    this.tokens.use(token);
    this.ws.connect(this.tokens.token());
    this.pasted.set('');
  }

  protected disconnect(): void {
    this.ws.disconnect();
  }
}
