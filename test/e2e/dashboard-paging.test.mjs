// Browser test of the dashboard's slot list against a server whose pages are
// small: the dashboard must follow nextCursor and show every slot, not the
// first page only. Debian's Chromium driven by playwright-core, as in
// dashboard.test.mjs.
//
// Needs the dashboard built (`make web`). Without it the test is skipped
// locally and fails in CI (CI set).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertBrowserReady, launchChromium, skipWithoutDashboard } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';


test('dashboard lists every page of a provider with more slots than a page', { skip: skipWithoutDashboard, timeout: 240_000 }, async (t) => {
  assertBrowserReady();

  // Two slots a page: seven slots are four pages.
  const srv = await startServer({ args: ['--page-size', '2', '--max-page-size', '2'] });
  t.after(() => srv.stop());
  const token = await srv.token({ sub: 'test-42', role: 'provider', providerId: '42' });
  const ids = [];
  for (let i = 0; i < 7; i++) {
    const start = new Date(Date.UTC(2030, 0, 1 + i, 9));
    const r = await fetch(`${srv.url}/api/v1/providers/42/slots`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), note: `slot ${i}` }),
    });
    assert.equal(r.status, 201, await r.clone().text());
    ids.push((await r.json()).id);
  }

  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(30_000); // a guard: each step waits for what the page must show
  const pageLog = [];
  page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
  const byId = (id) => page.getByTestId(id);
  const requests = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/providers/42/slots')) requests.push(r.url());
  });

  try {
    await page.goto(srv.url);
    await byId('token-input').fill(token);
    await byId('token-use-button').click();
    await byId('connection-state').filter({ hasText: /^connected$/ }).waitFor();
    await byId('provider-input').fill('42');
    await byId('join-button').click();
    await byId('room-status').filter({ hasText: /^joined$/ }).waitFor();

    // The last slot is on the last page.
    await page.locator(`[data-testid="slot-row"][data-slot-id="${ids[6]}"]`).waitFor();
    const shown = await page.locator('[data-testid="slot-row"]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.slotId)));
    assert.deepEqual(shown, ids);
    assert.equal(requests.length, 4, `pages fetched: ${requests.join(' ')}`);
    assert.equal(requests.filter((u) => u.includes('cursor=')).length, 3);
    assert.deepEqual(pageLog, [], 'uncaught errors in the page');
  } catch (err) {
    console.error(`--- page log ---\n${pageLog.join('\n')}\n--- server output ---\n${srv.output()}`);
    throw err;
  }
});
