// Browser test of the Angular dashboard (web/) against the real server:
// Debian's Chromium driven by playwright-core. The dashboard gets a token,
// joins provider-42's room and must show slots created and deleted over REST
// without a reload; a token for another provider must be refused.
//
// Needs the dashboard built (`make web`). Without it the test is skipped
// locally and fails in CI (CI set).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { binaryPath, mintToken, startServer, webDist } from './lib/server.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const built = existsSync(join(webDist, 'index.html'));
const skip =
  !built && !process.env.CI
    ? `dashboard not built (${webDist}/index.html missing): run \`make web\`; in CI this test fails instead`
    : false;

test('dashboard shows provider 42 slots live and refuses a foreign token', { skip, timeout: 90_000 }, async (t) => {
  assert.ok(built, `dashboard not built: ${webDist}/index.html missing (run \`make web\`)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (scripts/ensure-deps.sh)`);

  const srv = await startServer();
  t.after(() => srv.stop());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  t.after(() => browser.close());

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  const pageLog = [];
  page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => pageLog.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));

  const byId = (id) => page.getByTestId(id);
  const row = (slotId) => page.locator(`[data-testid="slot-row"][data-slot-id="${slotId}"]`);
  const token42 = await srv.token({ sub: 'test-42', role: 'provider', providerId: '42' });
  const rest = (method, path, body) =>
    fetch(`${srv.url}/api/v1/providers/42/slots${path}`, {
      method,
      headers: { Authorization: `Bearer ${token42}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  try {
    await page.goto(srv.url);
    await byId('connection-state').filter({ hasText: /^disconnected$/ }).waitFor();

    // A provider-42 token from the dashboard's own dev-token button.
    await byId('dev-token-role').selectOption('provider');
    await byId('dev-token-provider').fill('42');
    await byId('dev-token-button').click();
    await byId('connection-state').filter({ hasText: /^connected$/ }).waitFor();
    assert.equal(await byId('token-provider').textContent(), '42');

    await byId('provider-input').fill('42');
    await byId('join-button').click();
    await byId('room-status').filter({ hasText: /^joined$/ }).waitFor();
    await byId('slot-empty').waitFor();

    // Created over REST by someone else: appears without a reload.
    const day = new Date(Date.now() + 24 * 3600_000);
    day.setUTCHours(9, 0, 0, 0);
    const at = (h) => new Date(day.getTime() + h * 3600_000).toISOString();
    const created = await rest('POST', '', { start: at(1), end: at(2), note: 'from the e2e test' });
    assert.equal(created.status, 201, await created.clone().text());
    const slotA = await created.json();
    await row(slotA.id).waitFor();
    assert.match(await row(slotA.id).textContent(), /from the e2e test/);
    assert.match(await row(slotA.id).textContent(), /available/);

    // An earlier slot goes above it (sorted by start).
    const created2 = await rest('POST', '', { start: at(0), end: at(0.5), status: 'booked', note: 'earlier' });
    assert.equal(created2.status, 201, await created2.clone().text());
    const slotB = await created2.json();
    await row(slotB.id).waitFor();
    const order = await page.locator('[data-testid="slot-row"]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.slotId)));
    assert.deepEqual(order, [slotB.id, slotA.id]);
    await byId('last-seq').filter({ hasText: /^2$/ }).waitFor();

    // Deleted over REST: disappears without a reload.
    const deleted = await rest('DELETE', `/${slotA.id}`);
    assert.equal(deleted.status, 204);
    await row(slotA.id).waitFor({ state: 'detached' });
    await row(slotB.id).waitFor();
    await byId('last-seq').filter({ hasText: /^3$/ }).waitFor();

    // The dashboard's own form writes over REST with the dev token; the new
    // slot comes back through availabilityUpdated like anyone else's.
    await byId('new-start').fill(localInput(new Date(day.getTime() + 5 * 3600_000)));
    await byId('new-note').fill('added in the dashboard');
    await byId('create-button').click();
    await page.locator('[data-testid="slot-row"]', { hasText: 'added in the dashboard' }).waitFor();
    await byId('last-seq').filter({ hasText: /^4$/ }).waitFor();
    assert.equal(await page.locator('[data-testid="slot-row"]').count(), 2);

    // A skipped seq means a missed event: the dashboard must refetch over
    // REST rather than trust the event. An admin emits, through the dev emit
    // endpoint, a change for a slot that does not exist with seq 4 -> 9.
    const admin = await srv.token({ sub: 'test-admin', role: 'admin' });
    const emitted = await fetch(`${srv.url}/api/v1/dev/emit`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        room: 'provider-42',
        event: 'availabilityUpdated',
        data: {
          action: 'created',
          providerId: '42',
          seq: 9,
          at: new Date().toISOString(),
          slot: { ...slotB, id: 999999, note: 'phantom', start: at(6), end: at(7), version: 1 },
        },
      }),
    });
    assert.equal(emitted.status, 202, await emitted.clone().text());
    await byId('event-log').getByText('missed 4 events (seq 5–8); refetching').waitFor();
    await byId('last-seq').filter({ hasText: /^9$/ }).waitFor();
    await byId('event-log').getByText('fetching slots over REST (seq gap)').waitFor();
    assert.equal(await row(999999).count(), 0, 'the event was applied instead of refetching');
    assert.equal(await page.locator('[data-testid="slot-row"]').count(), 2);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

    // A token for provider 43 may not watch provider 42: the dashboard shows
    // the server's refusal (the exception event) and drops the list.
    const token43 = await srv.token({ sub: 'test-43', role: 'provider', providerId: '43' });
    await byId('token-input').fill(token43);
    await byId('token-use-button').click();
    await byId('token-provider').filter({ hasText: /^43$/ }).waitFor();
    await byId('connection-state').filter({ hasText: /^connected$/ }).waitFor();
    await byId('provider-input').fill('42');
    await byId('join-button').click();
    await byId('room-status').filter({ hasText: /^refused$/ }).waitFor();
    const refusal = (await byId('exception-message').textContent()).trim();
    assert.match(refusal, /provider-42/, "the refusal should be the server's exception message");
    assert.equal(await page.locator('[data-testid="slot-row"]').count(), 0, 'slots still shown after the refusal');
    await page.screenshot({ path: join(artifacts, 'dashboard-refused.png'), fullPage: true });

    // A token signed with another secret is refused at the handshake, and the
    // dashboard says why.
    const forged = await mintToken(binaryPath(), 'another-secret-another-secret-0123456789', {
      role: 'provider',
      providerId: '42',
    });
    await byId('token-input').fill(forged);
    await byId('token-use-button').click();
    await byId('connection-state').filter({ hasText: /^refused$/ }).waitFor();
    assert.ok((await byId('connection-reason').textContent()).trim().length > 'the server refused the token: '.length);

    assert.deepEqual(pageLog.filter((l) => l.startsWith('pageerror')), [], 'uncaught errors in the page');
  } catch (err) {
    try {
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'dashboard-failure.png'), fullPage: true });
    } catch {
      /* the browser may be gone */
    }
    console.error(`--- page log ---\n${pageLog.join('\n')}\n--- server output ---\n${srv.output()}`);
    throw err;
  }
});

/** A date in the format of <input type="datetime-local">, in the browser's (= this machine's) time zone. */
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
