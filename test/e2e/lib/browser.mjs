// Debian's Chromium for the browser tests, driven by playwright-core, with
// the flags that keep it quiet and headless on a CI machine.

import { chromium } from 'playwright-core';

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
