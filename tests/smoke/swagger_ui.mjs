// Swagger UI of the running dev federation in headless Chromium (puppeteer-core driving
// Debian's chromium). For the gateway and the integration node: the page loads with no
// failed request, lists every operation of the committed spec, and "Try it out" on a read
// answers 200 (the gateway's view, authorized with a practitioner token; the node's change
// feed, over the client certificate the browser presents). Screenshots go to argv[3].
// Usage: node swagger_ui.mjs FEDERATION_DIR OUT_DIR
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import https from "node:https";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH, "noop.js"));
const puppeteer = require("puppeteer-core");

const [root, out] = process.argv.slice(2);
const env = Object.fromEntries(
  readFileSync(path.join(root, "session.env"), "utf8")
    .split("\n")
    .filter((l) => l.includes("=") && !l.startsWith("#"))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const results = [];
const check = (name, ok, detail = "") => {
  results.push(Boolean(ok));
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `: ${detail}`}`);
};

function operations(spec) {
  const doc = JSON.parse(readFileSync(spec, "utf8"));
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
  );
}

// A reference for the gateway's view: search for the first sample child, as a client would.
function searchReference() {
  const sample = JSON.parse(readFileSync(path.join(root, "sample-children.json"), "utf8"))[0];
  const body = JSON.stringify({ identifiers: sample.identifiers, demographics: sample.demographics });
  const url = new URL("/v1/children:search?purpose=safeguarding&legal_basis=public_task", env.GATEWAY_URL);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: "POST",
      ca: readFileSync(env.CA_CERT),
      headers: { "content-type": "application/json", authorization: `Bearer ${env.TOKEN_DSL}` },
    }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(data).reference) : reject(new Error(data))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function tryItOut(page, opblockId, fill) {
  const block = `#${opblockId}`;
  await page.waitForSelector(block);
  await page.click(`${block} .opblock-summary`);
  await page.waitForSelector(`${block} .try-out__btn`);
  await page.click(`${block} .try-out__btn`);
  for (const [name, value] of Object.entries(fill)) {
    const row = `${block} tr[data-param-name="${name}"]`;
    await page.waitForSelector(row);
    if (await page.$(`${row} select`)) {
      await page.select(`${row} select`, value);
    } else {
      await page.type(`${row} input`, value);
    }
  }
  await page.click(`${block} .execute`);
  const status = `${block} .live-responses-table .response .response-col_status`;
  await page.waitForSelector(status, { timeout: 30000 });
  const code = (await page.$eval(status, (e) => e.textContent)).trim();
  const body = await page.$$eval(`${block} .live-responses-table .response-col_description pre`, (els) =>
    els.map((e) => e.textContent).join("\n"),
  );
  return { code, body };
}

async function explore(browser, { name, base, spec, authorize, read }) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const failed = [];
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`);
  });
  await page.goto(`${base}/docs/`, { waitUntil: "networkidle0", timeout: 60000 });
  await page.waitForSelector(".opblock", { timeout: 30000 });
  check(`${name}: the page loads with no failed request`, failed.length === 0, failed.join(", "));

  const listed = await page.$$eval(".opblock", (blocks) =>
    blocks.map((b) => `${b.querySelector(".opblock-summary-method").textContent.trim()} ${b.querySelector(".opblock-summary-path").getAttribute("data-path")}`),
  );
  const expected = operations(spec);
  const missing = expected.filter((op) => !listed.includes(op));
  check(`${name}: lists all ${expected.length} operations`, missing.length === 0 && listed.length === expected.length, `missing ${missing}, listed ${listed}`);

  if (authorize) {
    await page.click(".auth-wrapper .authorize");
    await page.waitForSelector(".modal-ux input");
    await page.type(".modal-ux input", authorize);
    await page.click(".modal-ux .auth-btn-wrapper .authorize");
    await page.click(".modal-ux .btn-done");
  }
  const seen = failed.length;
  const answer = await tryItOut(page, read.opblock, read.fill);
  check(`${name}: try it out ${read.what} answers 200`, answer.code === "200", `${answer.code} ${answer.body.slice(0, 300)}`);
  check(`${name}: the answer shows ${read.expect}`, answer.body.includes(read.expect), answer.body.slice(0, 300));
  check(`${name}: try it out needed no failed request`, failed.length === seen, failed.slice(seen).join(", "));
  const shot = path.join(out, `swagger-ui-${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`     screenshot: ${shot}`);
  await page.close();
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", `--user-data-dir=${path.join(process.env.HOME, "profile")}`],
});
try {
  const reference = await searchReference();
  await explore(browser, {
    name: "gateway",
    base: env.GATEWAY_URL,
    spec: "openapi/gateway.json",
    authorize: env.TOKEN_DSL,
    read: {
      what: "GET /v1/children/{reference}/view",
      opblock: "operations-children-view",
      fill: { reference, purpose: "safeguarding", legal_basis: "public_task" },
      expect: '"chronology"',
    },
  });
  await explore(browser, {
    name: "agency-node",
    base: env.INTEGRATION_NODE_URL,
    spec: "openapi/agency-node.json",
    read: {
      what: "GET /v1/changes",
      opblock: "operations-integration-changes",
      fill: { limit: "2" },
      expect: '"changes"',
    },
  });
} finally {
  await browser.close();
}
const passed = results.filter(Boolean).length;
console.log(`swagger ui: ${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length ? 0 : 1);
