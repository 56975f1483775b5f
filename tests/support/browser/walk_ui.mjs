// Walks the Dagster UI in the system's headless Chromium and prints what it saw as one JSON object.
// Usage: node walk_ui.mjs '{"base": "http://127.0.0.1:PORT", "shots": DIR, "profile": "profile/s/t", ...}'
// The Python test (tests/e2e/test_browser.py) asserts on the output; this script only drives and observes.
// Every wait is bounded; a step that cannot find what it waits for fails the walk with the step's name.
import { chromium } from 'playwright-core';

const plan = JSON.parse(process.argv[2]);
const STEP_MS = 60_000;
const seen = {};

const browser = await chromium.launch({
  executablePath: plan.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);

async function step(name, work) {
  try {
    await work();
  } catch (error) {
    await page.screenshot({ path: `${plan.shots}/failed-${name}.png` }).catch(() => {});
    seen.failed = { step: name, error: String(error).slice(0, 2000), url: page.url() };
    throw error;
  }
}

async function open(path) {
  await page.goto(plan.base + path, { waitUntil: 'domcontentloaded' });
}

async function shot(name, fullPage = false) {
  await page.screenshot({ path: `${plan.shots}/${name}.png`, fullPage });
}

async function text(selector = 'body') {
  return page.locator(selector).first().innerText();
}

// The UI polls while runs are in progress (sensors and automation run under the daemon): wait for a quiet network
// a little, then go on, since the content waited for is already there.
async function settle() {
  await page.waitForLoadState('networkidle', { timeout: 10000 }).catch(() => {});
}

try {
  await step('asset-graph', async () => {
    await open('/asset-groups');
    for (const group of plan.groups) {
      await page.getByText(group, { exact: true }).first().waitFor();
    }
    await settle();
    await shot('01-asset-graph');
    seen.asset_graph = await text();
  });

  await step('layers', async () => {
    await open('/assets');
    await page.locator('button:has([aria-label="folder"])').click();
    for (const layer of plan.layers) {
      await page.getByText(`${layer}/`, { exact: true }).first().waitFor();
    }
    await shot('02-layers');
    seen.layers = await text();
  });

  await step('profile-metadata', async () => {
    await open(`/assets/${plan.profile}`);
    await page.getByText('profile_json', { exact: true }).first().waitFor();
    await page.getByText('Metadata', { exact: true }).first().scrollIntoViewIfNeeded();
    await shot('03-profile-metadata');
    seen.profile = await text();
  });

  await step('recommendation-reasons', async () => {
    await open(`/assets/${plan.recommendation}`);
    const row = page.locator('tr', { has: page.getByText('rationale', { exact: true }) }).first();
    await row.getByText('[Show Markdown]').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(plan.reason_text).first().waitFor();
    await shot('04-recommendation-reasons');
    seen.reasons = await dialog.innerText();
    await page.keyboard.press('Escape');
  });

  await step('report', async () => {
    await open(`/assets/${plan.report_asset}`);
    const row = page.locator('tr', { has: page.getByText('path_html', { exact: true }) }).first();
    await row.waitFor();
    seen.report_metadata_row = await row.innerText();
    const path = seen.report_metadata_row.split(/\s+/).find((word) => word.endsWith('.html'));
    await page.goto(`file://${path}`, { waitUntil: 'load' });
    await page.getByRole('heading', { level: 1 }).waitFor();
    await shot('05-report', true);
    seen.report_path = path;
    seen.report = await text();
    seen.report_images = await page.locator('img').evaluateAll(
      (images) => images.map((image) => ({ alt: image.alt, loaded: image.complete && image.naturalWidth > 0 })));
  });

  await step('materialize', async () => {
    await open(`/assets/${plan.materialize}`);
    const button = page.locator('button', { hasText: /^\s*Materialize\s*$/ }).first();
    await button.waitFor();
    await shot('06-before-materialize');
    await button.click();
    const runLink = page.locator('a[href*="/runs/"]').filter({ hasText: /view/i }).first();
    await runLink.waitFor();
    const href = await runLink.getAttribute('href');
    seen.run_id = href.split('/runs/')[1].split(/[?#/]/)[0];
    await open(`/runs/${seen.run_id}`);
    await page.getByText(/^(Success|Failure|Canceled)$/).first().waitFor({ timeout: plan.run_timeout_ms });
    await settle();
    await shot('07-run');
    seen.run_page = await text();
  });
} catch (error) {
  // `seen.failed` names the step; the test reports it with the screenshot.
} finally {
  await browser.close();
  process.stdout.write(JSON.stringify(seen));
}
