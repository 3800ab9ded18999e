// Loads GraphiQL from the graphql function in headless Chromium, as a developer would: puts
// the token in the Headers editor, types a query into the query editor, runs it, and checks
// the response pane shows data, and that the token is not kept after a reload (the user did not
// ask). Fails on any request to another origin (GraphiQL must work offline) and on page errors.
// usage: node check.mjs '<json line from graphql-serve>' [screenshot.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { url, token, hotelId } = JSON.parse(process.argv[2]);
const screenshot = process.argv[3];
const origin = new URL(url).origin;
const profile = mkdtempSync(join(tmpdir(), 'graphiql-check-'));
const fail = (msg) => {
  throw new Error(msg);
};

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  const foreign = [];
  const problems = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Unauthorized/.test(m.text())) problems.push(`console: ${m.text()}`);
  });

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30000 });

  // The token goes in the Headers tab, the way the page tells developers to.
  await page.getByRole('button', { name: 'Headers' }).click();
  const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
  const headerEditor = page.locator('.graphiql-editor-tool .CodeMirror:visible');
  await headerEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(headers, { delay: 2 });
  const typedHeaders = await headerEditor.evaluate((e) => e.CodeMirror.getValue());
  if (typedHeaders.replace(/\s+/g, '') !== headers.replace(/\s+/g, '')) {
    fail(`the headers editor holds ${JSON.stringify(typedHeaders)}`);
  }

  // Type the query into the query editor, key by key, on one line (Enter would pick a hint).
  const query = `query TodaysArrivals { arrivals(hotelId: "${hotelId}") { date bookings { confirmationNumber guest { lastName } } } }`;
  await page.click('.graphiql-query-editor .CodeMirror');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(query, { delay: 5 });
  await page.keyboard.press('Escape');
  const typed = await page.evaluate(
    () => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue(),
  );
  if (typed.replace(/\s+/g, '') !== query.replace(/\s+/g, '')) fail(`the editor holds ${JSON.stringify(typed)}`);

  // GraphiQL re-reads the operation name from the document after a short debounce.
  await page.waitForTimeout(700);
  await page.click('.graphiql-execute-button');
  const handle = await page.waitForFunction(
    () => {
      const cm = document.querySelector('.graphiql-response .CodeMirror');
      const text = cm && cm.CodeMirror.getValue();
      return text && text.includes('"data"') ? text : null;
    },
    null,
    { timeout: 30000 },
  );
  const response = JSON.parse(await handle.jsonValue());
  if (response.errors) fail(`GraphiQL shows errors: ${JSON.stringify(response.errors)}`);
  const bookings = response.data.arrivals.bookings;
  if (!Array.isArray(bookings) || bookings.length === 0) fail('no arrivals in the response pane');
  if (screenshot) await page.screenshot({ path: screenshot });

  // The token is not kept in the browser unless the user switches "Persist headers" on:
  // GraphiQL writes its state after a short debounce, then the page is reloaded.
  await page.waitForTimeout(1000);
  const stored = await page.evaluate(() => ({ ...window.localStorage }));
  const holding = Object.keys(stored).filter((k) => String(stored[k]).includes(token));
  if (holding.length) {
    fail(`the token was written to localStorage (${holding.join(', ')}) without the user asking`);
  }
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30000 });
  await page.getByRole('button', { name: 'Headers' }).click();
  const reloaded = await page
    .locator('.graphiql-editor-tool .CodeMirror:visible')
    .evaluate((e) => e.CodeMirror.getValue());
  if (reloaded.includes(token)) fail('the token came back after a reload');
  if (foreign.length) fail(`requests left the origin: ${foreign.join(', ')}`);
  if (problems.length) fail(problems.join('\n'));
  console.log(
    `GraphiQL ok: ${bookings.length} arrivals on ${response.data.arrivals.date} for ${hotelId}; no request left ${origin}; the token was not persisted`,
  );
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
