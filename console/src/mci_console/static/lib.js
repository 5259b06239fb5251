// What every page shares: the DOM builder, the API client (the console's proxy with the
// operator's key), result lines, roles and the selected shop.

export const KEY = "mci.apiKey";
export const ROLE = "mci.role";
export const SHOP = "mci.shop";
export const RANK = { viewer: 1, operator: 2, admin: 3 };
export const MARKETPLACES = ["allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"];
export const view = document.getElementById("view");
export const state = { config: { services: [], oauth_redirect_uri: null }, accounts: [] };

// Why a product is not listable, and what the operator can do about it. The service gives
// the reason's words (`in_words`); the fix is the console's advice.
export const FIXES = {
  prohibited: "Allegro does not allow it: leave it out, or remove the screening rule if it is wrong.",
  incomplete: "Give the product a title and a cost price in the supplier's file, then import it again.",
  no_image: "Add at least one photo in the supplier's data, or let this shop list without photos (listing settings).",
  no_ean: "Add the EAN in the supplier's data; without one Allegro has no catalogue product to attach the offer to.",
  no_weight: "Add the weight in the supplier's data so a shipping price list can be chosen.",
  missing_gpsr: "Wait for the BigBuy connector to read the product's compliance data, or add the manufacturer's name, postal address and contact (gpsr_name, gpsr_address, gpsr_contact attributes) in the supplier's data; a shop that lists under its own responsible producer may list despite it (listing settings).",
  no_category: "Map its supplier category to an Allegro category (Category mapping, below).",
  over_cap: "Raise the shop's product cap, or narrow the selection.",
};

// A coverage report's counts (catalog's keys) in words.
export const COVERAGE_WORDS = {
  selected: "selected",
  matched: "found in Allegro's catalogue (one product)",
  missing: "not in Allegro's catalogue",
  ambiguous: "several Allegro products for the EAN",
  no_ean: "without an EAN",
  prohibited: "prohibited",
  incomplete: "incomplete (no title or cost)",
  unmapped: "category not mapped",
  no_image: "without an image",
  no_weight: "without a weight",
  missing_gpsr: "without GPSR data (manufacturer's name, address, contact)",
  listable: "listable",
};

// An offer's state in words (offers' states).
export const OFFER_STATES = {
  waiting: "waiting for its inputs",
  checking: "being checked",
  not_listable: "not listable",
  creating: "being created on Allegro",
  active: "active on Allegro",
  inactive: "inactive (Allegro turned it back into a draft)",
  failed: "failed",
  ended: "ended",
};

// What the operator can do about an offer's reason (offers gives the reason's own words).
export const OFFER_FIXES = {
  product_missing: "Allegro has no catalogue product with this EAN: check the EAN in the supplier's data, or leave the product out.",
  product_ambiguous: "Several Allegro products carry this EAN: correct the EAN in the supplier's data, or leave the product out.",
  category_mismatch: "Map the supplier category to the Allegro category of the product Allegro found (Catalogue page), then retry.",
  parameter_missing: "Give the product the attribute the category requires (named like Allegro's parameter) in the supplier's data, then retry.",
  parameter_invalid: "Correct the attribute to a value the Allegro category accepts, then retry.",
  product_safety: "Correct the shop's product safety (GPSR) data in its readiness, then retry.",
  no_ean: "Add the EAN in the supplier's data.",
  no_category: "Map the product's supplier category to an Allegro category (Catalogue page).",
  no_shipping_band: "Give the product a weight, or add a weight band that covers it to the shop's shipping configuration.",
  title_length: "Set an offer title of 12 to 75 characters (Product page).",
  price_invalid: "Check the shop's pricing rules for that marketplace (Pricing page).",
  allegro_rejected: "Read Allegro's errors on the product's page, fix what they name, then retry.",
  allegro_unavailable: "Allegro did not answer: retry when it does.",
  late_validation: "Read Allegro's validation errors on the product's page, fix them, then retry.",
  stock_out: "Nothing to do: it comes back when the supplier restocks.",
  unselected: "Nothing to do, or add it to the selection again (Catalogue page).",
  ended_on_allegro: "Someone ended it on Allegro: retry to publish it again.",
};

// A duration in words (an ETA), or what stands for none.
export function duration(seconds, none = "unknown") {
  if (seconds === null || seconds === undefined) return none;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// Allegro's errors as it gave them, one line each.
export function allegroErrors(errors) {
  return (errors || []).map((e) =>
    typeof e === "object" && e !== null
      ? [e.code, e.userMessage || e.message].filter(Boolean).join(": ") + (e.path ? ` (at ${e.path})` : "")
      : String(e));
}

// --- small helpers --------------------------------------------------------------------------

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replace an element's children, leaving out the null, undefined and false ones (as `h` does;
// replaceChildren itself would write them as text).
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// Append children, leaving out the null, undefined and false ones (a hidden action is null;
// Element.append would write it as the text "null").
export function append(el, ...children) {
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function table(columns, rows, cells) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, cells(row).map((c) => h("td", {}, c))))),
  );
}

export const apiKey = () => sessionStorage.getItem(KEY);
export const role = () => sessionStorage.getItem(ROLE) || "viewer";
export const can = (minimum) => (RANK[role()] || 0) >= RANK[minimum];
export const shop = () => sessionStorage.getItem(SHOP) || "";
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");
export const money = (m) => (m ? `${m.amount} ${m.currency}` : "-");
export const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

export function shopName(id) {
  const found = state.accounts.find((a) => a.id === id);
  return found ? found.alias : id;
}

// --- the API --------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(service, status, code, message, details) {
    super(message);
    this.service = service;
    this.status = status;
    this.code = code;
    this.details = details || [];
  }

  words() {
    const extra = this.details.filter((d) => !this.message.includes(d));
    const more = extra.length ? ` (${extra.join("; ")})` : "";
    if (this.code === "service_unreachable") return `The ${this.service} service cannot be reached.`;
    if (this.status === 0) return `The console cannot be reached: ${this.message}`;
    if (this.status === 401) return `Your API key was refused (${this.message}): log in again.`;
    if (this.status === 403) return `Not allowed for your role (${role()}): ${this.message}.`;
    return `${this.service} refused: ${this.message}${more} [${this.status} ${this.code}]`;
  }
}

export function detailWords(details) {
  if (!Array.isArray(details)) return [];
  return details
    .filter((d) => d && typeof d === "object" && (d.field || d.reason))
    .map((d) => [d.field, d.reason || d.problem || d.code].filter(Boolean).join(": "));
}

export async function call(service, method, path, options = {}) {
  const url = new URL(`/api/${service}${path}`, location.origin);
  for (const [name, value] of Object.entries(options.params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (options.auth !== false && apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    headers["Content-Type"] = options.contentType || "application/octet-stream";
    body = options.body;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body });
  } catch (exc) {
    throw new ApiError(service, 0, "network", exc.message);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const e = data && typeof data === "object" ? data.error : null;
    if (e && typeof e === "object") {
      throw new ApiError(service, response.status, e.code, e.message || e.code, detailWords(e.details));
    }
    throw new ApiError(service, response.status, `http_${response.status}`, String(data || response.statusText));
  }
  return data;
}

export const get = (service, path, params) => call(service, "GET", path, { params });
export const post = (service, path, json, params) => call(service, "POST", path, { json, params });
export const put = (service, path, json) => call(service, "PUT", path, { json });

export async function getAll(service, path, params) {
  const items = [];
  let after = null;
  for (;;) {
    const page = await get(service, path, { ...params, limit: 1000, after });
    items.push(...page.items);
    if (!page.next) return items;
    after = page.next;
  }
}

// A line that says what an action did, or why it failed, in words.
export function resultLine() {
  return h("div", { class: "result", hidden: true });
}

export async function act(line, work) {
  line.hidden = false;
  line.className = "result busy";
  line.setAttribute("role", "status");
  line.textContent = "Working…";
  try {
    const said = await work();
    line.className = "result ok";
    line.textContent = said;
    return true;
  } catch (exc) {
    line.className = "result error";
    line.setAttribute("role", "alert");
    line.textContent = exc instanceof ApiError ? exc.words() : `Failed: ${exc.message}`;
    return false;
  }
}

// An action button: hidden when the key's role may not act (the service refuses anyway).
export function action(label, minimum, onclick, attrs = {}) {
  if (!can(minimum)) return null;
  return h("button", { type: "button", onclick, ...attrs }, label);
}

export function needShop(container) {
  if (shop()) return false;
  container.append(h("p", { class: "result error" }, "Add a shop first (Shops page)."));
  return true;
}

export async function loadAccounts() {
  state.accounts = await getAll("auth", "/accounts");
  const select = document.getElementById("shop");
  if (!state.accounts.some((a) => a.id === shop())) {
    if (state.accounts.length) sessionStorage.setItem(SHOP, state.accounts[0].id);
    else sessionStorage.removeItem(SHOP);
  }
  select.replaceChildren(
    ...state.accounts.map((a) => h("option", { value: a.id, selected: a.id === shop() }, a.alias)),
  );
}


// The page router, set by main.js: a page draws itself again through it.
export const hooks = { route: () => {} };
export const rerender = () => hooks.route();
