/**
 * The portal in a real browser (Debian's chromium, headless, driven by playwright-core) against a real
 * `switchyard controller` process on a SQLite store: what a tenant does through the forms is read back
 * through the REST API, what the API says is wrong shows at the field, what another tenant owns never
 * shows, what changes through the API (or through a host's heartbeat and reports on the southbound
 * API, with that server's host token) shows in an open page without a reload, and the main flow
 * works with the keyboard alone.
 * One browser for the file, one context per user. Screenshots of the main pages at laptop and phone
 * widths go to a temp dir, or to docs/portal/ with UPDATE_SCREENSHOTS=1 (the README shows those).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createToken, revokeToken } from '../../src/controller/auth.js';
import { statusKey } from '../../src/controller/keys.js';
import { portalRoutes } from '../../src/controller/portal.js';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import { request, spawnController, type Answer, type ControllerProcess } from '../controller/api-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BUILT = existsSync(join(REPO, 'dist/portal/index.html'));
/** a condition a page must reach: bounded, never a measured time */
const WAIT = { timeout: 10_000 };
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let dir: string;
let shots: string;
let store: SqliteStore | undefined;
let ctl: ControllerProcess | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let admin: string;
let blue: string;
let red: string;
const hosts: Record<string, string> = {};

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh --test installs Debian's chromium`);
  assert.ok(BUILT, 'dist/portal is not built: run npm run build (scripts/build-portal.sh)');
  dir = mkdtempSync(join(tmpdir(), 'sy-portal-'));
  shots = process.env.UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs/portal') : join(dir, 'shots');
  mkdirSync(shots, { recursive: true });
  const db = join(dir, 'controller.db');
  // the test's own Store object on the controller's file: tokens as the CLI makes them, and host reports
  store = await SqliteStore.open(db);
  admin = (await createToken(store, 'provider', 'admin')).token;
  blue = (await createToken(store, 'blue', 'tenant')).token;
  red = (await createToken(store, 'red', 'tenant')).token;
  hosts.host1 = (await createToken(store, 'provider', 'host', 'host1')).token;
  ctl = await spawnController(['--store', `sqlite:${db}`]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await ctl?.stop();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const api = (method: string, path: string, token: string, body?: unknown): Promise<Answer> => request(ctl!.url, method, path, body, { token });
/** what a host's agent sends, with that server's host token */
const southbound = (server: string, path: string, body: unknown): Promise<Answer> => request(ctl!.url, 'PUT', `/southbound/servers/${server}${path}`, body, { token: hosts[server] });

async function newPage(viewport = LAPTOP): Promise<Page> {
  const context = await browser!.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  // nothing but the controller: a request anywhere else fails the test
  await context.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => route.abort());
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${ctl!.url}/portal/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Virtual networks', level: 1 }).waitFor(WAIT);
  await page.getByText('live', { exact: true }).waitFor(WAIT);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

const fieldError = (page: Page, field: string) => page.locator(`.field-error[data-field="${field}"]`);
const nav = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name, exact: true }).click();

describe('portal', () => {
  let bluePage: Page;

  it('serves its files without a token and says so when it is not built', async () => {
    const index = await fetch(`${ctl!.url}/portal/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const js = await fetch(`${ctl!.url}/portal/main.js`);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${ctl!.url}/portal/..%2Fcontroller.db`)).status, 404);
    assert.equal((await fetch(`${ctl!.url}/networking/v1/virtualNetworks`)).status, 401, 'the API still wants its token');
    const bare = Fastify();
    portalRoutes(bare, join(dir, 'no-build/'));
    const missing = await bare.inject({ method: 'GET', url: '/portal/' });
    await bare.close();
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().message, /The portal is not built .*npm run build/);
  });

  it('refuses a wrong token with the API message and signs a tenant in', async () => {
    const page = await newPage();
    await page.goto(`${ctl!.url}/portal/`);
    await shot(page, 'sign-in');
    await page.getByLabel('API token').fill('sy_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'The controller refused this token' }).waitFor(WAIT);
    await signIn(page, blue);
    const sections = await page.getByRole('navigation').getByRole('link').allTextContents();
    assert.ok(sections.includes('Access control lists') && sections.includes('Load balancers') && sections.includes('Topology'), sections.join());
    assert.ok(!sections.includes('Servers') && !sections.includes('MAC pools'), `a tenant sees no provider collection: ${sections.join()}`);
    bluePage = page;
  });

  it('creates a virtual network, subnets and an ACL through the forms, as the API then shows them', async () => {
    const page = bluePage;
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('blue-net');
    await page.getByLabel('Address space').fill('10.1.0.0/16');
    await page.getByLabel('First subnet name (optional)').fill('web');
    // outside the address space: the API says so, next to the subnet prefix field
    await page.getByLabel('First subnet prefix').fill('10.2.1.0/24');
    await page.getByRole('button', { name: 'Create' }).click();
    await fieldError(page, 'addressPrefix').waitFor(WAIT);
    const refused = await api('PUT', '/virtualNetworks/blue-net', blue, { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ resourceId: 'web', properties: { addressPrefix: '10.2.1.0/24' } }] } });
    assert.equal(refused.status, 400);
    assert.equal(await fieldError(page, 'addressPrefix').textContent(), refused.body.message, "the API's own message, at the field it names");
    await page.getByLabel('First subnet prefix').fill('10.1.1.0/24');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'blue-net', level: 1 }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Add subnet' }).click();
    await page.getByLabel('Subnet name').fill('db');
    await page.getByLabel('Address prefix', { exact: true }).fill('10.1.2.0/24');
    await page.getByRole('button', { name: 'Add subnet' }).click();
    await page.getByTestId('subnets').locator('tr[data-id="db"]').waitFor(WAIT);

    const vn = await api('GET', '/virtualNetworks/blue-net', blue);
    assert.equal(vn.status, 200);
    assert.deepEqual(vn.body.properties.addressSpace.addressPrefixes, ['10.1.0.0/16']);
    assert.deepEqual(
      vn.body.properties.subnets.map((s: { resourceId: string; properties: { addressPrefix: string } }) => [s.resourceId, s.properties.addressPrefix]),
      [
        ['web', '10.1.1.0/24'],
        ['db', '10.1.2.0/24'],
      ],
    );
    assert.equal(vn.body.resourceMetadata.tenantId, 'blue');
    await shot(page, 'virtual-network');

    await nav(page, 'Access control lists');
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('web-acl');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'web-acl', level: 1 }).waitFor(WAIT);
    assert.equal(await page.getByTestId('default-Inbound').locator('.action').textContent(), 'Allow', 'no rules: everything passes');
    // a priority that is not a number: the schema's error, at the priority field
    await page.getByRole('button', { name: 'Add inbound rule' }).click();
    await page.getByLabel('Rule name').fill('allow-http');
    await page.getByLabel('Priority').fill('high');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await fieldError(page, 'priority').filter({ hasText: '/properties/priority' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel' }).click();
    const markup = '<img src=x onerror="document.title=1">ssh';
    for (const [id, prio, port, description] of [
      ['allow-http', '100', '80', ''],
      ['allow-ssh', '200', '22', markup],
    ] as const) {
      await page.getByRole('button', { name: 'Add inbound rule' }).click();
      await page.getByLabel('Rule name').fill(id);
      await page.getByLabel('Priority').fill(prio);
      await page.getByLabel('Destination ports').fill(port);
      await page.getByLabel('Description').fill(description);
      await page.getByRole('button', { name: 'Add rule' }).click();
      await page.getByTestId('rules-Inbound').locator(`li[data-id="${id}"]`).waitFor(WAIT);
    }
    // what a user typed is shown as text, never as markup
    assert.match((await page.locator('li[data-id="allow-ssh"]').textContent()) ?? '', /<img src=x onerror="document.title=1">ssh/);
    assert.equal(await page.locator('main img').count(), 0);
    const acl = await api('GET', '/accessControlLists/web-acl', blue);
    assert.deepEqual(
      acl.body.properties.aclRules.map((r: { resourceId: string; properties: Record<string, unknown> }) => [r.resourceId, r.properties.priority, r.properties.type, r.properties.destinationPortRange, r.properties.action]),
      [
        ['allow-http', 100, 'Inbound', '80', 'Allow'],
        ['allow-ssh', 200, 'Inbound', '22', 'Allow'],
      ],
    );
    assert.equal(await page.getByTestId('default-Inbound').locator('.action').textContent(), 'Deny');
    assert.equal(await page.getByTestId('default-Outbound').locator('.action').textContent(), 'Deny', 'a list with rules blocks by default in both directions');
  });

  it("edits an ACL rule: a bad prefix shows the API's error at that field; reordering rewrites priorities", async () => {
    const page = bluePage;
    const rule = page.getByTestId('rules-Inbound').locator('li[data-id="allow-http"]');
    await rule.getByRole('button', { name: 'Edit' }).click();
    await rule.getByLabel('Source prefix').fill('10.0.0.300/24');
    await rule.getByRole('button', { name: 'Save rule' }).click();
    await fieldError(page, 'sourceAddressPrefix').waitFor(WAIT);
    const refused = await api('PUT', '/accessControlLists/web-acl/aclRules/allow-http', blue, {
      properties: { protocol: 'TCP', action: 'Allow', type: 'Inbound', priority: 100, sourceAddressPrefix: '10.0.0.300/24', destinationPortRange: '80' },
    });
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /sourceAddressPrefix/);
    assert.equal(await fieldError(page, 'sourceAddressPrefix').textContent(), refused.body.message);
    assert.equal(await rule.getByLabel('Source prefix').getAttribute('aria-invalid'), 'true');
    await shot(page, 'acl-rule-error');
    await rule.getByLabel('Source prefix').fill('10.0.0.0/8');
    await rule.getByRole('button', { name: 'Save rule' }).click();
    await rule.getByRole('button', { name: 'Save rule' }).waitFor({ ...WAIT, state: 'detached' });
    assert.equal((await api('GET', '/accessControlLists/web-acl/aclRules/allow-http', blue)).body.properties.sourceAddressPrefix, '10.0.0.0/8');

    await rule.getByRole('button', { name: 'Move down' }).click();
    await page.locator('[data-testid="rules-Inbound"] li[data-id]').first().and(page.locator('[data-id="allow-ssh"]')).waitFor(WAIT);
    const rules = (await api('GET', '/accessControlLists/web-acl', blue)).body.properties.aclRules as { resourceId: string; properties: { priority: number } }[];
    assert.deepEqual(Object.fromEntries(rules.map((r) => [r.resourceId, r.properties.priority])), { 'allow-http': 200, 'allow-ssh': 100 });
    assert.deepEqual(await page.locator('[data-testid="rules-Inbound"] li[data-id]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-id')}@${e.getAttribute('data-priority')}`)), [
      'allow-ssh@100',
      'allow-http@200',
    ]);
    await shot(page, 'acl-editor');

    // a subnet gets the ACL from the list of the tenant's ACLs; a subnet is deleted after a confirm
    await nav(page, 'Virtual networks');
    await page.getByRole('link', { name: 'blue-net' }).click();
    const web = page.getByTestId('subnets').locator('tr[data-id="web"]');
    await web.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Access control list').selectOption('/accessControlLists/web-acl');
    await page.getByRole('button', { name: 'Save subnet' }).click();
    await web.getByRole('link', { name: 'web-acl' }).waitFor(WAIT);
    assert.deepEqual((await api('GET', '/virtualNetworks/blue-net/subnets/web', blue)).body.properties.accessControlList, { resourceRef: '/accessControlLists/web-acl' });
    await page.getByRole('button', { name: 'Add subnet' }).click();
    await page.getByLabel('Subnet name').fill('tmp');
    await page.getByLabel('Address prefix', { exact: true }).fill('10.1.9.0/24');
    await page.getByRole('button', { name: 'Add subnet' }).click();
    const tmp = page.getByTestId('subnets').locator('tr[data-id="tmp"]');
    await tmp.getByRole('button', { name: 'Delete subnet tmp' }).click();
    await tmp.getByRole('button', { name: 'Yes, delete' }).click();
    await tmp.waitFor({ ...WAIT, state: 'detached' });
    assert.equal((await api('GET', '/virtualNetworks/blue-net/subnets/tmp', blue)).status, 404);
  });

  it('shows a change made through the API in an open page without a reload', async () => {
    const page = bluePage;
    await nav(page, 'Virtual networks');
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const row = page.getByTestId('list-virtualNetworks').locator('tr[data-id="api-net"]');
    assert.equal((await api('PUT', '/virtualNetworks/api-net', blue, { properties: { addressSpace: { addressPrefixes: ['10.9.0.0/16'] } } })).status, 201);
    await row.waitFor(WAIT);
    assert.match((await row.textContent()) ?? '', /10\.9\.0\.0\/16/);
    assert.equal((await api('PUT', '/virtualNetworks/api-net', blue, { properties: { addressSpace: { addressPrefixes: ['10.9.0.0/16', '10.10.0.0/16'] } } })).status, 200);
    await row.filter({ hasText: '10.10.0.0/16' }).waitFor(WAIT);
    assert.equal((await api('DELETE', '/virtualNetworks/api-net', blue)).status, 204);
    await row.waitFor({ ...WAIT, state: 'detached' });
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the same page, not a reload');

    // a field this portal does not know (as a newer controller sharing the store would write it) is shown raw
    const key = '/nc/res/virtualNetworks/blue-net';
    const rec = JSON.parse((await store!.get(key))!.value);
    rec.doc.properties.encryptionPolicy = { mode: 'Required', cipher: '<b>aes-gcm</b>' };
    await store!.put(key, JSON.stringify(rec));
    await page.getByRole('link', { name: 'blue-net' }).click();
    const other = page.getByTestId('unknown-fields');
    await other.waitFor(WAIT);
    assert.deepEqual(JSON.parse((await other.locator('pre').textContent()) ?? ''), { encryptionPolicy: { mode: 'Required', cipher: '<b>aes-gcm</b>' } }, 'as text, markup and all');
    await shot(page, 'unknown-field');
    delete rec.doc.properties.encryptionPolicy;
    await store!.put(key, JSON.stringify(rec));
    await other.waitFor({ ...WAIT, state: 'detached' });

    // an untouched field follows the API; a field being edited keeps its text, and saving it over a
    // change made meanwhile is the API's 412, not a silent overwrite
    const space = page.getByLabel('Address prefixes');
    const asIs = (await api('GET', '/virtualNetworks/blue-net', blue)).body;
    const withSpace = (prefixes: string[]) => ({ properties: { ...asIs.properties, addressSpace: { addressPrefixes: prefixes } } });
    assert.equal((await api('PUT', '/virtualNetworks/blue-net', blue, withSpace(['10.1.0.0/16', '10.99.0.0/16']))).status, 200);
    await page.waitForFunction(() => (document.querySelector('input[name="addressPrefixes"]') as HTMLInputElement | null)?.value === '10.1.0.0/16, 10.99.0.0/16', undefined, WAIT);
    await space.fill('10.1.0.0/16, 10.98.0.0/16');
    assert.equal((await api('PUT', '/virtualNetworks/blue-net', blue, withSpace(['10.1.0.0/16']))).status, 200);
    await page.getByRole('button', { name: 'Save address space' }).click();
    await page.getByRole('alert').filter({ hasText: 'If-Match' }).waitFor(WAIT);
    assert.equal(await space.inputValue(), '10.1.0.0/16, 10.98.0.0/16', 'the typed text stays');
    assert.deepEqual((await api('GET', '/virtualNetworks/blue-net', blue)).body.properties.addressSpace.addressPrefixes, ['10.1.0.0/16']);
  });

  it("shows a second tenant none of the first tenant's resources", async () => {
    const page = await newPage();
    await signIn(page, red);
    assert.equal(await page.getByText('None yet.').count(), 1);
    await nav(page, 'Access control lists');
    await page.getByRole('heading', { name: 'Access control lists', level: 1 }).waitFor(WAIT);
    await nav(page, 'Topology');
    await page.getByRole('heading', { name: 'Topology', level: 1 }).waitFor(WAIT);
    await page.goto(`${ctl!.url}/portal/#/c/virtualNetworks/blue-net`);
    await page.getByRole('status').filter({ hasText: 'There is no virtualNetworks resource "blue-net"' }).waitFor(WAIT);
    // blue writes while red watches: nothing of it reaches red's page
    assert.equal((await api('PUT', '/virtualNetworks/blue-late', blue, { properties: { addressSpace: { addressPrefixes: ['10.7.0.0/16'] } } })).status, 201);
    assert.equal((await api('PUT', '/virtualNetworks/red-net', red, { properties: { addressSpace: { addressPrefixes: ['10.7.0.0/16'] } } })).status, 201);
    await nav(page, 'Virtual networks');
    await page.getByTestId('list-virtualNetworks').locator('tr[data-id="red-net"]').waitFor(WAIT);
    const text = await page.locator('body').textContent();
    for (const name of ['blue-net', 'blue-late', 'web-acl', 'allow-http', '10.1.0.0/16']) assert.ok(!text?.includes(name), `red sees "${name}"`);
  });

  it('follows the controller across a restart: the stream resumes and misses nothing', async () => {
    const page = await newPage();
    await signIn(page, red);
    const live = page.getByRole('status').filter({ hasText: /^(live|reconnecting…)$/ });
    const port = Number(new URL(ctl!.url).port);
    await ctl!.stop();
    await live.filter({ hasText: 'reconnecting…' }).waitFor(WAIT);
    ctl = await spawnController(['--store', `sqlite:${join(dir, 'controller.db')}`], port);
    // written at once: the page has not reconnected yet or just has; either way it must show
    assert.equal((await api('PUT', '/virtualNetworks/red-after', red, { properties: { addressSpace: { addressPrefixes: ['10.8.0.0/16'] } } })).status, 201);
    await page.getByTestId('list-virtualNetworks').locator('tr[data-id="red-after"]').waitFor(WAIT);
    await live.filter({ hasText: 'live' }).waitFor(WAIT);
    assert.equal((await api('DELETE', '/virtualNetworks/red-after', red)).status, 204);
    await page.getByTestId('list-virtualNetworks').locator('tr[data-id="red-after"]').waitFor({ ...WAIT, state: 'detached' });
  });

  it('places a NIC through the form and draws the topology from live data', async () => {
    assert.equal((await api('PUT', '/macPools/pool1', admin, { properties: { startMacAddress: '00-1D-D8-B7-1C-00', endMacAddress: '00-1D-D8-B7-1C-FF' } })).status, 201);
    assert.equal((await api('PUT', '/credentials/host-cred', admin, { properties: { type: 'UsernamePassword', userName: 'sdn', value: 'secret' } })).status, 201);
    assert.equal((await api('PUT', '/servers/host1', admin, { properties: { connections: [{ managementAddresses: ['10.0.0.11'], credential: { resourceRef: '/credentials/host-cred' } }] } })).status, 201);
    const page = bluePage;
    await nav(page, 'Network interfaces');
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('web-1');
    await page.getByLabel('Subnet').selectOption('/virtualNetworks/blue-net/subnets/web');
    await page.getByLabel('Server (resourceRef, optional)').fill('/servers/host1');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'web-1', level: 1 }).waitFor(WAIT);
    const nic = await api('GET', '/networkInterfaces/web-1', blue);
    assert.equal(nic.status, 200, JSON.stringify(nic.body));
    const ip = nic.body.properties.ipConfigurations[0].properties.privateIPAddress as string;
    assert.match(ip, /^10\.1\.1\.\d+$/);
    await page.getByTestId('ipconfigs').getByText(ip).waitFor(WAIT);
    // host1's agent reports the NIC's address through the southbound API: its tenant's page shows it, per host
    assert.equal((await southbound('host1', '/reports', { reports: [{ resourceRef: '/networkInterfaces/web-1/ipConfigurations/ip1', status: 'Success' }] })).status, 204);
    await page.getByTestId('ipconfigs').getByTestId('config-state').filter({ hasText: 'Success' }).waitFor(WAIT);
    assert.equal(await page.getByTestId('ipconfigs').getByTestId('host-states').textContent(), 'host1: Success');
    assert.equal(await page.getByTestId('mac').textContent(), `${String(nic.body.properties.privateMacAddress)} (Dynamic)`);
    // a second address: a static one outside its subnet is refused at the field, then a good one
    await page.getByRole('button', { name: 'Add IP configuration' }).click();
    await page.getByLabel('IP configuration name').fill('ip2');
    await page.getByLabel('Subnet').selectOption('/virtualNetworks/blue-net/subnets/db');
    await page.getByLabel('Static IP (empty: the next free one)').fill('10.1.1.50');
    await page.getByRole('button', { name: 'Add IP configuration' }).click();
    await fieldError(page, 'privateIPAddress').filter({ hasText: '10.1.1.50' }).waitFor(WAIT);
    await page.getByLabel('Static IP (empty: the next free one)').fill('10.1.2.50');
    await page.getByRole('button', { name: 'Add IP configuration' }).click();
    await page.getByTestId('ipconfigs').getByText('10.1.2.50').waitFor(WAIT);
    const ip2 = await api('GET', '/networkInterfaces/web-1/ipConfigurations/ip2', blue);
    assert.deepEqual([ip2.body.properties.privateIPAddress, ip2.body.properties.privateIPAllocationMethod], ['10.1.2.50', 'Static']);
    await shot(page, 'network-interface');
    await page.getByRole('button', { name: 'Delete IP configuration ip2' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByTestId('ipconfigs').getByText('10.1.2.50').waitFor({ ...WAIT, state: 'detached' });

    // a load balancer through its form: a port out of range is the API's error at that field
    await nav(page, 'Load balancers');
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('web-lb');
    await page.getByLabel('VIP subnet').selectOption('/virtualNetworks/blue-net/subnets/web');
    await page.getByRole('checkbox', { name: /^web-1 \/ ip1 / }).check();
    await page.getByLabel('Frontend port').fill('70000');
    await page.getByLabel('Backend port').fill('8080');
    await page.getByLabel('TCP probe port (optional)').fill('8080');
    await page.getByRole('button', { name: 'Create' }).click();
    await fieldError(page, 'frontendPort').filter({ hasText: 'frontendPort' }).waitFor(WAIT);
    await page.getByLabel('Frontend port').fill('80');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'web-lb', level: 1 }).waitFor(WAIT);
    const lb = await api('GET', '/loadBalancers/web-lb', blue);
    assert.equal(lb.status, 200, JSON.stringify(lb.body));
    const vip = lb.body.properties.frontendIPConfigurations[0].properties.privateIPAddress as string;
    assert.match(vip, /^10\.1\.1\.\d+$/);
    assert.notEqual(vip, ip, 'the VIP is not the NIC address');
    assert.deepEqual(lb.body.properties.backendAddressPools[0].properties.backendIPConfigurations, [{ resourceRef: '/networkInterfaces/web-1/ipConfigurations/ip1' }]);
    const rule = lb.body.properties.loadBalancingRules[0].properties;
    assert.deepEqual([rule.protocol, rule.frontendPort, rule.backendPort, rule.probe], ['TCP', 80, 8080, { resourceRef: '/loadBalancers/web-lb/probes/probe' }]);
    await page.getByTestId('lb-frontends').getByText(vip).waitFor(WAIT);
    assert.equal(await page.getByTestId('lb-rules').locator('td').nth(3).textContent(), 'pool:8080');
    await shot(page, 'load-balancer');

    await nav(page, 'Topology');
    const svg = page.getByTestId('topology');
    for (const ref of ['/virtualNetworks/blue-net', '/virtualNetworks/blue-net/subnets/web', '/networkInterfaces/web-1', '/servers/host1']) await svg.locator(`[data-ref="${ref}"]`).waitFor(WAIT);
    assert.equal(await svg.locator('path.edge').count(), 4, 'vnet→web, vnet→db, web→web-1, web-1→host1');
    // a NIC added through the API is drawn without a reload
    assert.equal((await api('PUT', '/networkInterfaces/db-1', blue, { properties: { ipConfigurations: [{ resourceId: 'ip1', properties: { subnet: { resourceRef: '/virtualNetworks/blue-net/subnets/db' } } }] } })).status, 201);
    await svg.locator('[data-ref="/networkInterfaces/db-1"]').waitFor(WAIT);
    await shot(page, 'topology');
  });

  it("shows an admin the servers, every tenant's resources, and a host's configurationState as it changes", async () => {
    const page = await newPage();
    await signIn(page, admin);
    const tenants = await page.getByTestId('list-virtualNetworks').getByTestId('tenant').allTextContents();
    assert.ok(tenants.includes('blue') && tenants.includes('red'), tenants.join());
    await shot(page, 'admin-virtual-networks');
    await nav(page, 'Servers');
    const row = page.getByTestId('list-servers').locator('tr[data-id="host1"]');
    await row.waitFor(WAIT);
    assert.match((await row.textContent()) ?? '', /10\.0\.0\.11/);
    assert.equal(await row.locator('td').nth(2).textContent(), '1', 'host1 runs one NIC');
    assert.equal(await row.getByTestId('config-state').count(), 0, 'nothing reported yet');
    const cell = (i: number) => row.locator('td').nth(i).textContent();
    // host1's agent sends its heartbeat (southbound PUT …/heartbeat): health, version, modes, provider address
    assert.equal((await southbound('host1', '/heartbeat', { hostdVersion: '0.1.0', supportedModes: ['NAT', 'L2Bridge'], providerAddresses: ['10.0.0.11'] })).status, 204);
    await row.getByTestId('config-state').filter({ hasText: 'Success' }).waitFor(WAIT);
    assert.deepEqual([await cell(3), await cell(4), await cell(5)], ['0.1.0', 'NAT, L2Bridge', '10.0.0.11']);
    assert.match((await cell(6)) ?? '', /^\d{4}-\d\d-\d\dT/, 'the last heartbeat');
    await shot(page, 'servers');
    // the host reports its NIC failed: the admin's list and topology show it
    assert.equal((await southbound('host1', '/reports', { reports: [{ resourceRef: '/networkInterfaces/web-1', status: 'Failure', detailedInfo: [{ code: 'SY_KERNEL', message: 'nft -f failed' }] }] })).status, 204);
    await nav(page, 'Network interfaces');
    const nicRow = page.getByTestId('list-networkInterfaces').locator('tr[data-id="web-1"]');
    await nicRow.getByTestId('config-state').filter({ hasText: 'Failure' }).waitFor(WAIT);
    assert.equal(await nicRow.getByTestId('host-states').textContent(), 'host1: Failure');
    await nav(page, 'Topology');
    await page.getByTestId('topology').locator('[data-ref="/networkInterfaces/web-1"].state-bad').waitFor(WAIT);
    await shot(page, 'admin-topology');
    assert.equal((await southbound('host1', '/reports', { reports: [{ resourceRef: '/networkInterfaces/web-1', status: 'Success' }] })).status, 204);
    await page.getByTestId('topology').locator('[data-ref="/networkInterfaces/web-1"].state-ok').waitFor(WAIT);

    // the server written again carries its heartbeat in its own GET; a report removed from the store still goes from the page
    const host1 = (await api('GET', '/servers/host1', admin)).body;
    assert.equal(host1.properties.configurationState.hostdVersion, '0.1.0');
    assert.equal((await api('PUT', '/servers/host1', admin, { properties: { connections: host1.properties.connections } })).status, 200);
    await page.getByTestId('topology').locator('a[href="#/c/servers/host1"]').click();
    const report = page.locator('details[open] pre').filter({ hasText: '"hostdVersion": "0.1.0"' });
    await report.waitFor(WAIT);
    await store!.delete(statusKey('/servers/host1'));
    await report.waitFor({ ...WAIT, state: 'detached' });
    assert.equal(await page.getByTestId('config-state').count(), 0, 'nothing reported any more');
    // the admin's topology has every tenant's networks and every host, also one without NICs
    assert.equal((await api('PUT', '/servers/host2', admin, { properties: { connections: host1.properties.connections } })).status, 201);
    await nav(page, 'Topology');
    for (const ref of ['/virtualNetworks/blue-net', '/virtualNetworks/red-net', '/servers/host1', '/servers/host2']) await page.getByTestId('topology').locator(`[data-ref="${ref}"]`).waitFor(WAIT);
    // a collection without a form of its own is shown as its JSON
    await nav(page, 'MAC pools');
    await page.getByRole('link', { name: 'pool1' }).click();
    assert.match((await page.locator('details[open] pre').textContent()) ?? '', /"startMacAddress": "00-1D-D8-B7-1C-00"/);
    // and made as JSON: an overlapping range is the API's error, a free one is created
    await nav(page, 'MAC pools');
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('pool2');
    const editor = page.getByLabel('Document (JSON)');
    await editor.fill(JSON.stringify({ properties: { startMacAddress: '00-1D-D8-B7-1C-80', endMacAddress: '00-1D-D8-B7-1D-FF' } }));
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('.form-error').filter({ hasText: 'overlaps /macPools/pool1' }).waitFor(WAIT);
    await editor.fill(JSON.stringify({ properties: { startMacAddress: '00-1D-D8-B7-1D-00', endMacAddress: '00-1D-D8-B7-1D-FF' } }));
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'pool2', level: 1 }).waitFor(WAIT);
    assert.equal((await api('GET', '/macPools/pool2', admin)).body.properties.endMacAddress, '00-1D-D8-B7-1D-FF');
  });

  it('goes back to sign-in on sign-out and when the token is revoked', async () => {
    const page = bluePage;
    // a reload keeps the tab signed in (the token is in sessionStorage)
    await page.reload();
    await page.getByRole('heading', { name: 'Topology', level: 1 }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor(WAIT);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token is gone from the tab');
    await page.reload();
    await page.getByLabel('API token').waitFor(WAIT);

    const green = await createToken(store!, 'green', 'tenant');
    await signIn(page, green.token);
    await revokeToken(store!, green.id);
    // the next call the page makes is refused: it signs out and says why
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByLabel('Name (resourceId)').fill('green-net');
    await page.getByLabel('Address space').fill('10.5.0.0/16');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').filter({ hasText: 'Signed out' }).waitFor(WAIT);
    await page.getByLabel('API token').waitFor(WAIT);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it('works with the keyboard alone: sign in, go to a section, create an ACL', async () => {
    const page = await newPage();
    await page.goto(`${ctl!.url}/portal/`);
    const focused = () => page.evaluate(() => `${document.activeElement?.tagName ?? ''} ${document.activeElement?.textContent?.trim() ?? ''}`);
    /** Tab until the focused element's tag and text match, at most 40 times */
    const tabTo = async (want: RegExp) => {
      for (let i = 0; i < 40; i++) {
        if (want.test(await focused())) return;
        await page.keyboard.press('Tab');
      }
      assert.fail(`Tab never reached ${String(want)} (at: ${await focused()})`);
    };
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'the token field has the focus');
    await page.keyboard.type(blue);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Virtual networks', level: 1 }).waitFor(WAIT);
    await tabTo(/^A Access control lists$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Access control lists', level: 1 }).waitFor(WAIT);
    await tabTo(/^BUTTON New$/);
    await page.keyboard.press('Enter');
    // the form takes the focus (what the keys type below goes to it)
    await page.waitForFunction(() => (document.activeElement as HTMLInputElement | null)?.name === 'resourceId', undefined, WAIT);
    await page.keyboard.type('kbd-acl');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'kbd-acl', level: 1 }).waitFor(WAIT);
    // the new page has the keyboard (not the body the form left) and says where it is
    await page.waitForFunction(() => document.activeElement?.id === 'main', undefined, WAIT);
    assert.equal(await page.title(), 'kbd-acl · Switchyard portal');
    await tabTo(/^BUTTON Add inbound rule$/);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (document.activeElement as HTMLInputElement | null)?.name === 'resourceId', undefined, WAIT);
    await page.keyboard.type('kbd-rule');
    await page.keyboard.press('Enter');
    await page.getByTestId('rules-Inbound').locator('li[data-id="kbd-rule"]').waitFor(WAIT);
    const acl = await api('GET', '/accessControlLists/kbd-acl', blue);
    assert.deepEqual(
      acl.body.properties.aclRules.map((r: { resourceId: string; properties: { priority: number } }) => [r.resourceId, r.properties.priority]),
      [['kbd-rule', 100]],
    );
  });

  it('reads on a phone', async () => {
    const page = await newPage(PHONE);
    await signIn(page, blue);
    await shot(page, 'phone-virtual-networks');
    // nothing wider than the screen but what scrolls inside its own box (tables, the topology)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await page.goto(`${ctl!.url}/portal/#/c/accessControlLists/web-acl`);
    await page.getByRole('heading', { name: 'web-acl', level: 1 }).waitFor(WAIT);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, 'the ACL editor fits a phone');
    await shot(page, 'phone-acl-editor');
    await page.goto(`${ctl!.url}/portal/#/topology`);
    const svg = page.getByTestId('topology');
    await svg.locator('[data-ref="/networkInterfaces/web-1"]').waitFor(WAIT);
    assert.ok(await svg.evaluate((e) => e.getBoundingClientRect().right <= window.innerWidth), 'the topology is drawn as a tree that fits a phone');
    await shot(page, 'phone-topology');
  });
});
