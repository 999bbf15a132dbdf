import { Component } from '@angular/core';

import { TokenPanelComponent } from './auth/token-panel.component';
import { AvailabilityComponent } from './availability/availability.component';

/** The dashboard: a token on the left, one provider's live availability on the right. */
@Component({
  selector: 'app-root',
  imports: [TokenPanelComponent, AvailabilityComponent],
  template: `
    <header class="topbar">
      <h1><span class="logo" aria-hidden="true">◐</span> Eventide <span class="muted">realtime dashboard</span></h1>
      <a href="/api/openapi.yaml" class="muted small">API</a>
    </header>
    <main class="layout">
      <aside><app-token-panel /></aside>
      <div class="content"><app-availability /></div>
    </main>
  `,
})
export class App {}
