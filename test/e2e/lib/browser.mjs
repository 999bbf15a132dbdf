// Debian's Chromium for the browser tests, driven by playwright-core, with
// the flags that keep it quiet and headless on a CI machine.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { webDist } from './server.mjs';

/** The Chromium binary ($CHROMIUM_PATH, else Debian's). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches Chromium headless; the caller closes it. */
export function launchChromium() {
  return chromium.launch({
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
}

/** Whether the dashboard is built (`make web`). */
export const dashboardBuilt = existsSync(join(webDist, 'index.html'));

/**
 * The `skip` option of a dashboard test: skipped locally when the dashboard
 * is not built, run (and failed by assertBrowserReady) in CI.
 */
export const skipWithoutDashboard =
  !dashboardBuilt && !process.env.CI
    ? `dashboard not built (${webDist}/index.html missing): run \`make web\`; in CI this test fails instead`
    : false;

/** Fails the test, saying what to do, when the dashboard or Chromium is missing. */
export function assertBrowserReady() {
  assert.ok(dashboardBuilt, `dashboard not built: ${webDist}/index.html missing (run \`make web\`)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (scripts/ensure-deps.sh)`);
}
