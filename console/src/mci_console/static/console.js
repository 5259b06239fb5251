// The operator console: plain JavaScript, no build step, no library.
// Every call goes to /api/<service>/<path> on this origin (the console's proxy) with the
// operator's API key as the bearer; the services decide, the pages show what they answer.
// The key lives in this tab's sessionStorage only and is never written anywhere else.
"use strict";

(() => {
  const KEY = "mci.apiKey";
  const ROLE = "mci.role";
  const SHOP = "mci.shop";
  const RANK = { viewer: 1, operator: 2, admin: 3 };
  const MARKETPLACES = ["allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"];
  const view = document.getElementById("view");
  const state = { config: { services: [], oauth_redirect_uri: null }, accounts: [] };

  // Why a product is not listable, and what the operator can do about it. The service gives
  // the reason's words (`in_words`); the fix is the console's advice.
  const FIXES = {
    prohibited: "Allegro does not allow it: leave it out, or remove the screening rule if it is wrong.",
    incomplete: "Give the product a title and a cost price in the supplier's file, then import it again.",
    no_image: "Add at least one photo in the supplier's data, or let this shop list without photos (listing settings).",
    no_ean: "Add the EAN in the supplier's data; without one Allegro has no catalogue product to attach the offer to.",
    no_weight: "Add the weight in the supplier's data so a shipping price list can be chosen.",
    no_category: "Map its supplier category to an Allegro category (Category mapping, below).",
    over_cap: "Raise the shop's product cap, or narrow the selection.",
  };

  // A coverage report's counts (catalog's keys) in words.
  const COVERAGE_WORDS = {
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
    listable: "listable",
  };

  // --- small helpers --------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
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

  function table(columns, rows, cells) {
    return h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, cells(row).map((c) => h("td", {}, c))))),
    );
  }

  const apiKey = () => sessionStorage.getItem(KEY);
  const role = () => sessionStorage.getItem(ROLE) || "viewer";
  const can = (minimum) => (RANK[role()] || 0) >= RANK[minimum];
  const shop = () => sessionStorage.getItem(SHOP) || "";
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");
  const money = (m) => (m ? `${m.amount} ${m.currency}` : "-");
  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

  function shopName(id) {
    const found = state.accounts.find((a) => a.id === id);
    return found ? found.alias : id;
  }

  // --- the API --------------------------------------------------------------------------------

  class ApiError extends Error {
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

  function detailWords(details) {
    if (!Array.isArray(details)) return [];
    return details
      .filter((d) => d && typeof d === "object" && (d.field || d.reason))
      .map((d) => [d.field, d.reason || d.code].filter(Boolean).join(": "));
  }

  async function call(service, method, path, options = {}) {
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

  const get = (service, path, params) => call(service, "GET", path, { params });
  const post = (service, path, json, params) => call(service, "POST", path, { json, params });
  const put = (service, path, json) => call(service, "PUT", path, { json });

  async function getAll(service, path, params) {
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
  function resultLine() {
    return h("div", { class: "result", hidden: true });
  }

  async function act(line, work) {
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
  function action(label, minimum, onclick, attrs = {}) {
    if (!can(minimum)) return null;
    return h("button", { type: "button", onclick, ...attrs }, label);
  }

  function needShop(container) {
    if (shop()) return false;
    container.append(h("p", { class: "result error" }, "Add a shop first (Shops page)."));
    return true;
  }

  // --- log in ---------------------------------------------------------------------------------

  function renderLogin(message) {
    document.getElementById("top").hidden = true;
    const input = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
    const line = resultLine();
    if (message) {
      line.hidden = false;
      line.className = "result error";
      line.textContent = message;
    }
    const form = h(
      "form",
      { class: "login" },
      h("h1", {}, "mci console"),
      h("p", {}, "Log in with your operator API key (mcik_…). It is kept in this tab only."),
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", {}, h("button", { type: "submit" }, "Log in")),
      line,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const candidate = input.value.trim();
      await act(line, async () => {
        // The key's role, from auth (which also checks that the key is valid).
        const response = await fetch("/api/auth/auth/tokens", {
          method: "POST",
          headers: { Authorization: `Bearer ${candidate}`, Accept: "application/json" },
        });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          const e = (data && data.error) || {};
          throw new ApiError("auth", response.status, e.code || "refused", e.message || "refused");
        }
        sessionStorage.setItem(KEY, candidate);
        sessionStorage.setItem(ROLE, data.role);
        return `Logged in as ${data.role}.`;
      });
      if (apiKey()) start();
    });
    view.replaceChildren(form);
    input.focus();
  }

  // --- the frame: navigation, shop, role ------------------------------------------------------

  const PAGES = [
    { id: "shops", title: "Shops", render: renderShops },
    { id: "catalogue", title: "Catalogue", render: renderCatalogue },
    { id: "product", title: "Product", render: renderProduct },
    { id: "pricing", title: "Pricing", render: renderPricing },
    { id: "orders", title: "Orders", render: renderOrders },
    { id: "dead-letters", title: "Dead letters", render: renderDeadLetters, minimum: "admin" },
    { id: "keys", title: "API keys", render: renderKeys, minimum: "admin" },
  ];

  async function loadAccounts() {
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

  async function start() {
    try {
      state.config = await (await fetch("/config.json")).json();
      await loadAccounts();
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 401) {
        logout(exc.words());
        return;
      }
      view.replaceChildren(h("p", { class: "result error", role: "alert" }, exc.words ? exc.words() : exc.message));
    }
    document.getElementById("top").hidden = false;
    document.getElementById("who").textContent = `role: ${role()}`;
    route();
  }

  function logout(message) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
    renderLogin(message);
  }

  function route() {
    if (!apiKey()) {
      renderLogin();
      return;
    }
    const wanted = (location.hash.replace(/^#\/?/, "") || "shops").split("?")[0];
    const pages = PAGES.filter((p) => !p.minimum || can(p.minimum));
    const page = pages.find((p) => p.id === wanted) || pages[0];
    document.getElementById("nav").replaceChildren(
      ...pages.map((p) =>
        h("a", { href: `#/${p.id}`, "aria-current": p.id === page.id ? "page" : null }, p.title),
      ),
    );
    const container = h("div", { id: `page-${page.id}` });
    view.replaceChildren(h("h1", {}, page.title), container);
    document.title = `${page.title} - mci console`;
    page.render(container).catch((exc) => {
      container.append(
        h("p", { class: "result error", role: "alert" }, exc instanceof ApiError ? exc.words() : exc.message),
      );
    });
  }

  // --- Shops (auth; cap from catalog; import state from orders) -------------------------------

  function statusWords(account, importing) {
    const connection = account.connection;
    if (account.status === "connected") {
      if (importing && importing.status === "tokens_failed") {
        return [`Token failing: ${importing.status_reason || importing.last_error || "Allegro refused it"}`, false];
      }
      return ["Connected", true];
    }
    if (account.status === "refresh_failed") {
      return [`Token failing: ${account.status_reason || "the refresh was refused"} (reconnect it)`, false];
    }
    if (connection && connection.status === "pending") return ["Waiting for the seller to log in at Allegro", false];
    const why = account.status_reason || (connection && connection.error);
    return [`Not connected${why ? `: ${why}` : " yet"}`, false];
  }

  async function renderShops(container) {
    const line = resultLine();
    const connectPanel = h("div", { id: "connect-panel" });
    const body = h("div", { id: "shops" });
    // The table is drawn again after each action; the result line and the panel stay.
    const renderAgain = () => shopsTable(body, line, connectPanel, renderAgain);
    container.append(body, line, connectPanel);
    await renderAgain();
    if (can("operator")) {
      const alias = h("input", { id: "new-alias", placeholder: "shop-pl-1" });
      const base = h("select", { id: "new-marketplace" }, MARKETPLACES.map((m) => h("option", {}, m)));
      container.append(
        h(
          "section",
          {},
          h("h2", {}, "Add a shop"),
          h("label", { for: "new-alias" }, "Name"),
          alias,
          h("label", { for: "new-marketplace" }, "Base marketplace"),
          base,
          h("button", {
            type: "button",
            onclick: () =>
              act(line, async () => {
                const made = await post("auth", "/accounts", { alias: alias.value.trim(), base_marketplace: base.value });
                await renderAgain();
                return `Shop ${made.alias} added (id ${made.id}): connect it at Allegro.`;
              }),
          }, "Add shop"),
        ),
      );
    }
    container.append(
      h("p", { class: "muted" }, "Pausing and resuming a shop's publication come with the offers service."),
    );
  }

  async function shopsTable(body, line, connectPanel, renderAgain) {
    await loadAccounts();
    const imports = await getAll("orders", "/import/accounts").catch(() => []);
    const caps = {};
    await Promise.all(
      state.accounts.map(async (a) => {
        caps[a.id] = await get("catalog", `/accounts/${encodeURIComponent(a.id)}/listing`).catch(() => null);
      }),
    );
    const rows = table(
      ["Shop", "Status", "Allegro seller", "Marketplace", "Product cap", "Token valid until", "Last connection attempt", "Actions"],
      state.accounts,
      (a) => {
        const importing = imports.find((i) => i.account_id === a.id);
        const [words, good] = statusWords(a, importing);
        const attempt = a.connection
          ? `${a.connection.flow} ${a.connection.status}${a.connection.error ? `: ${a.connection.error}` : ""}`
          : "-";
        const id = encodeURIComponent(a.id);
        return [
          h("span", {}, a.alias, h("br"), h("small", { class: "muted" }, a.id)),
          h("span", { class: good ? "status-connected" : "status-problem", dataset: { status: a.status } }, words),
          a.allegro_login || "-",
          a.base_marketplace,
          caps[a.id] ? String(caps[a.id].product_cap) : "-",
          when(a.access_expires_at),
          attempt,
          h(
            "span",
            {},
            action(a.status === "connected" ? "Reconnect at Allegro" : "Connect at Allegro", "operator", () =>
              act(line, async () => {
                const redirect = state.config.oauth_redirect_uri;
                const started = await post(
                  "auth",
                  `/accounts/${id}/connect/authorization-code`,
                  redirect ? { redirect_uri: redirect } : undefined,
                );
                connectPanel.replaceChildren(
                  h("p", {}, `To connect ${a.alias}, the seller logs in at Allegro (link valid until ${when(started.expires_at)}):`),
                  h("p", {}, h("a", { href: started.authorize_url, id: "authorize-link" }, "Log in at Allegro")),
                );
                return `Connection started for ${a.alias}: open the link below.`;
              }),
            ),
            action("Connect with a code", "operator", () =>
              act(line, async () => {
                const started = await post("auth", `/accounts/${id}/connect/device`);
                const where = started.verification_uri_complete || started.verification_uri;
                connectPanel.replaceChildren(
                  h("p", {}, `The seller opens `, h("a", { href: where, target: "_blank", rel: "noopener" }, where)),
                  h("p", {}, "and enters the code ", h("strong", {}, started.user_code), `. Valid until ${when(started.expires_at)}.`),
                  h("p", { class: "muted" }, "This page checks the shop's status until it is connected."),
                );
                watchConnection(a.id, line);
                return `Device connection started for ${a.alias}.`;
              }),
            ),
            action("Forget tokens", "operator", () => {
              if (!confirm(`Forget ${a.alias}'s Allegro tokens? It must be connected again.`)) return;
              act(line, async () => {
                const after = await post("auth", `/accounts/${id}/reset`);
                await renderAgain();
                return `${after.alias}: tokens forgotten, status ${after.status}.`;
              });
            }),
            action("Delete", "admin", () => {
              if (!confirm(`Delete the shop ${a.alias}?`)) return;
              act(line, async () => {
                await call("auth", "DELETE", `/accounts/${id}`);
                await renderAgain();
                return `${a.alias} deleted.`;
              });
            }, { class: "danger" }),
          ),
        ];
      },
    );
    body.replaceChildren(
      state.accounts.length ? rows : h("p", {}, "No shop yet."),
      h("p", {}, h("button", { type: "button", onclick: () => act(line, async () => { await renderAgain(); return "Shops refreshed."; }) }, "Refresh")),
    );
  }

  function watchConnection(accountId, line) {
    const timer = setInterval(async () => {
      if (!document.body.contains(line)) {
        clearInterval(timer); // the operator went to another page
        return;
      }
      try {
        const account = await get("auth", `/accounts/${encodeURIComponent(accountId)}`);
        const attempt = account.connection;
        if (account.status === "connected" || (attempt && attempt.status !== "pending")) {
          clearInterval(timer);
          line.className = account.status === "connected" ? "result ok" : "result error";
          line.textContent =
            account.status === "connected"
              ? `${account.alias} is connected as Allegro seller ${account.allegro_login}.`
              : `${account.alias} was not connected: ${attempt.error || attempt.status}.`;
        }
      } catch (exc) {
        clearInterval(timer);
      }
    }, 3000);
  }

  // --- OAuth callback: Allegro sent the seller back here --------------------------------------

  async function renderCallback() {
    const params = new URLSearchParams(location.search);
    history.replaceState(null, "", "/oauth/callback"); // the code is used once: off the URL
    const line = resultLine();
    view.replaceChildren(h("h1", {}, "Connecting a shop"), line, h("p", {}, h("a", { href: "/#/shops" }, "Back to the shops")));
    await act(line, async () => {
      const account = await call("auth", "GET", "/accounts/oauth/callback", {
        auth: false,
        params: { state: params.get("state"), code: params.get("code"), error: params.get("error") },
      });
      return `Shop ${account.alias} is connected as Allegro seller ${account.allegro_login}.`;
    });
  }

  // --- Catalogue (catalog) --------------------------------------------------------------------

  async function renderCatalogue(container) {
    // What an import changes (unmapped categories, what is not listable) is drawn again after it.
    const rest = h("div");
    const drawRest = async () => {
      if (!shop()) {
        rest.replaceChildren(h("p", { class: "result error" }, "Add a shop first (Shops page)."));
        return;
      }
      rest.replaceChildren(
        await selectionSection(),
        await listingSection(),
        await notListableSection(),
        await mappingSection(),
        await coverageSection(),
      );
    };
    container.append(await importsSection(drawRest), rest);
    await drawRest();
  }

  async function importsSection(afterImport) {
    const section = h("section", { id: "imports" }, h("h2", {}, "Imports"));
    const line = resultLine();
    const errorsBox = h("div", { id: "import-errors" });
    if (can("operator")) {
      const file = h("input", { type: "file", id: "import-file" });
      const format = h("select", { id: "import-format" }, ["jsonl", "csv", "bigbuy"].map((f) => h("option", {}, f)));
      const currency = h("input", { id: "import-currency", value: "EUR", size: 4 });
      section.append(
        h("label", { for: "import-file" }, "File"),
        file,
        h("label", { for: "import-format" }, "Format"),
        format,
        h("label", { for: "import-currency" }, "Currency"),
        currency,
        h("button", {
          type: "button",
          onclick: () =>
            act(line, async () => {
              if (!file.files.length) throw new Error("choose a file first");
              const report = await call("catalog", "POST", "/imports", {
                params: { format: format.value, currency: currency.value.trim() },
                body: file.files[0],
              });
              await refresh();
              await showErrors(report.import_id);
              await afterImport();
              return `Imported ${file.files[0].name}: ${report.valid} valid rows, ${report.invalid} rejected (${report.status}).`;
            }),
        }, "Import"),
      );
    }
    const list = h("div");
    section.append(line, list, errorsBox);

    async function showErrors(importId) {
      const page = await get("catalog", `/imports/${importId}/errors`, { limit: 100 });
      errorsBox.replaceChildren(
        h("h3", {}, `Rejected rows of import ${importId}`),
        page.errors.length
          ? table(["Line", "SKU", "Field", "Why"], page.errors, (e) => [e.line, e.sku || "-", e.field || "-", `${e.reason} (${e.code})`])
          : h("p", {}, "No row was rejected."),
        page.next_after !== null ? h("p", { class: "muted" }, "The first 100 are shown; the download has them all.") : null,
      );
    }

    async function refresh() {
      const imports = (await get("catalog", "/imports", { limit: 20 })).imports;
      list.replaceChildren(
        imports.length
          ? table(["Started", "Format", "Status", "Rows", "Valid", "Rejected", ""], imports, (i) => [
              when(i.started_at),
              i.format,
              i.status + (i.error ? `: ${i.error}` : ""),
              i.rows,
              i.valid,
              i.invalid,
              i.invalid
                ? h(
                    "span",
                    {},
                    h("button", { type: "button", onclick: () => act(line, async () => { await showErrors(i.id); return `Showing the rejected rows of ${i.id}.`; }) }, "Show errors"),
                    h("button", { type: "button", onclick: () => act(line, () => downloadErrors(i.id)) }, "Download errors (CSV)"),
                  )
                : "",
            ])
          : h("p", {}, "No import yet."),
      );
    }
    await refresh();
    return section;
  }

  async function downloadErrors(importId) {
    const rows = [["line", "sku", "field", "code", "reason"]];
    let after = -1;
    for (;;) {
      const page = await get("catalog", `/imports/${importId}/errors`, { after, limit: 10000 });
      for (const e of page.errors) rows.push([e.line, e.sku, e.field, e.code, e.reason]);
      if (page.next_after === null || page.next_after === undefined) break;
      after = page.next_after;
    }
    const cell = (v) => {
      const s = v === null || v === undefined ? "" : String(v);
      return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const csv = rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
    const link = h("a", {
      href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })),
      download: `import-${importId}-errors.csv`,
    });
    document.body.append(link);
    link.click();
    link.remove();
    return `Downloaded ${rows.length - 1} rejected rows as import-${importId}-errors.csv.`;
  }

  async function selectionSection() {
    const id = encodeURIComponent(shop());
    const section = h("section", { id: "selection" }, h("h2", {}, `Selection of ${shopName(shop())}`));
    const [saved, listing] = await Promise.all([
      get("catalog", `/accounts/${id}/selection`),
      get("catalog", `/accounts/${id}/listing`),
    ]);
    const sel = saved.selection;
    const area = (name, values) => h("textarea", { id: name, rows: 3, "aria-label": name.replace(/-/g, " ") }, (values || []).join("\n"));
    const fields = {
      include: { categories: area("include-categories", sel.include.categories), brands: area("include-brands", sel.include.brands), skus: area("include-skus", sel.include.skus) },
      exclude: { categories: area("exclude-categories", sel.exclude.categories), brands: area("exclude-brands", sel.exclude.brands), skus: area("exclude-skus", sel.exclude.skus) },
    };
    const draft = () => ({
      include: Object.fromEntries(Object.entries(fields.include).map(([k, el]) => [k, lines(el.value)])),
      exclude: Object.fromEntries(Object.entries(fields.exclude).map(([k, el]) => [k, lines(el.value)])),
    });
    const line = resultLine();
    const preview = h("div", { id: "selection-preview" });
    section.append(
      h("p", {}, `${saved.saved ? "Saved" : "Nothing saved yet"}; ${saved.listed} products listed now; product cap ${listing.product_cap} (kept by ${listing.cap_order}).`),
      h("div", { class: "grid" },
        h("div", {}, h("h3", {}, "Include (one per line)"), "Categories", fields.include.categories, "Brands", fields.include.brands, "SKUs", fields.include.skus),
        h("div", {}, h("h3", {}, "Exclude"), "Categories", fields.exclude.categories, "Brands", fields.exclude.brands, "SKUs", fields.exclude.skus),
      ),
      h("button", {
        type: "button",
        onclick: () =>
          act(line, async () => {
            const result = await post("catalog", `/accounts/${id}/selection/preview`, draft(), { page_size: 0 });
            const c = result.counts;
            const cap = result.cap;
            preview.replaceChildren(
              table(["Selected", "Would be listed", "Product cap", "Over the cap", "Entering", "Leaving"], [c], () => [
                c.selected, c.to_list, cap.product_cap, cap.over_cap, c.entering, c.leaving,
              ]),
              reasonsList(result.not_listable_by_reason),
            );
            const within = cap.over_cap
              ? `; the cap (${cap.product_cap}) leaves ${cap.over_cap} of them out`
              : `, within the cap (${cap.product_cap})`;
            return `Preview: ${c.to_list} of ${c.selected} selected products can be listed${within}.`;
          }),
      }, "Preview"),
      action("Save selection", "operator", () =>
        act(line, async () => {
          const result = await put("catalog", `/accounts/${id}/selection`, draft());
          return `Selection saved: ${result.listed} products listed, ${result.emitted_items} sent on.`;
        }),
      ),
      line,
      preview,
    );
    return section;
  }

  // What the shop may list: its product cap, which products stay within it, and the reasons
  // it lists despite (screening and the cap are never waived).
  async function listingSection() {
    const id = encodeURIComponent(shop());
    const listing = await get("catalog", `/accounts/${id}/listing`);
    const section = h("section", { id: "listing" }, h("h2", {}, "Listing settings"));
    const cap = h("input", { id: "product-cap", type: "number", min: 1, value: listing.product_cap });
    const order = h("select", { id: "cap-order" },
      ["margin", "stock", "priority", "sku"].map((o) => h("option", { selected: o === listing.cap_order }, o)));
    const waivable = ["no_image", "no_ean", "no_weight", "no_category"];
    const boxes = waivable.map((reason) =>
      h("input", { type: "checkbox", id: `waive-${reason}`, value: reason, checked: listing.not_blocking.includes(reason) }));
    const line = resultLine();
    section.append(
      h("label", { for: "product-cap" }, "Product cap"), cap,
      h("label", { for: "cap-order" }, "Within the cap, keep first by"), order,
      h("p", {}, "List even with:", boxes.map((box) =>
        h("label", { for: box.id }, box, ` ${box.value.replace(/_/g, " ")}`))),
      action("Save listing settings", "operator", () =>
        act(line, async () => {
          const saved = await put("catalog", `/accounts/${id}/listing`, {
            product_cap: Number(cap.value),
            cap_order: order.value,
            not_blocking: boxes.filter((b) => b.checked).map((b) => b.value),
            priority: listing.priority,
          });
          const waived = saved.not_blocking.map((r) => r.replace(/_/g, " ")).join(", ") || "nothing";
          return `Listing settings saved: cap ${saved.product_cap}, kept by ${saved.cap_order}, listed despite ${waived}; ${saved.emitted_items} products sent on.`;
        }),
      ),
      line,
    );
    return section;
  }

  function reasonsList(byReason) {
    const entries = Object.entries(byReason || {});
    if (!entries.length) return h("p", {}, "Every selected product is listable.");
    return h("ul", {}, entries.map(([reason, count]) => h("li", {}, `${count} not listable: ${reason.replace(/_/g, " ")}. ${FIXES[reason] || ""}`)));
  }

  async function notListableSection() {
    const id = encodeURIComponent(shop());
    const found = await get("catalog", `/accounts/${id}/not-listable`, { limit: 500 });
    const section = h("section", { id: "not-listable" }, h("h2", {}, `Not listable in ${shopName(shop())}: ${found.total} products`));
    if (!found.total) {
      section.append(h("p", {}, "Every product of the selection can be listed."));
      return section;
    }
    for (const [reason, count] of Object.entries(found.by_reason).sort((a, b) => b[1] - a[1])) {
      const products = found.products.filter((p) => p.reasons.includes(reason));
      const words = products.length ? products[0].in_words[products[0].reasons.indexOf(reason)] : reason;
      section.append(
        h(
          "div",
          { class: "reason", dataset: { reason } },
          h("h3", {}, `${words} - ${count} product${count === 1 ? "" : "s"}`),
          h("p", { class: "fix" }, `How to fix: ${FIXES[reason] || "see the product's data."}`),
          h("ul", {}, products.slice(0, 50).map((p) => h("li", {}, h("a", { href: `#/product?sku=${encodeURIComponent(p.sku)}` }, p.sku), ` ${p.title || ""}`))),
        ),
      );
    }
    return section;
  }

  async function mappingSection() {
    const section = h("section", { id: "mapping" }, h("h2", {}, "Category mapping"));
    const unmapped = (await get("catalog", "/category-mappings/unmapped")).categories;
    const line = resultLine();
    section.append(
      unmapped.length
        ? table(["Supplier category without an Allegro category", "Products"], unmapped.slice(0, 100), (c) => [c.category_path, c.products])
        : h("p", {}, "Every supplier category is mapped."),
    );
    if (can("operator")) {
      const category = h("input", { id: "map-category", size: 40 });
      const allegro = h("input", { id: "map-allegro", size: 10 });
      section.append(
        h("label", { for: "map-category" }, "Supplier category"),
        category,
        h("label", { for: "map-allegro" }, "Allegro category id"),
        allegro,
        h("button", {
          type: "button",
          onclick: () =>
            act(line, async () => {
              const done = await put("catalog", "/category-mappings", { supplier_category: category.value, allegro_category_id: allegro.value.trim() });
              return `Mapped ${done.supplier_category} to Allegro category ${done.allegro_category_id}; ${done.emitted_items} products sent on.`;
            }),
        }, "Map"),
      );
    }
    section.append(line);
    return section;
  }

  async function coverageSection() {
    const id = encodeURIComponent(shop());
    const section = h("section", { id: "coverage" }, h("h2", {}, "Coverage in Allegro's catalogue"));
    const line = resultLine();
    const body = h("div");
    const show = (report) => {
      const p = report.progress;
      body.replaceChildren(
        h("p", {}, `Report ${report.report_id}: ${report.status}, started ${when(report.started_at)}. `,
          h("progress", { max: p.total || 1, value: p.processed, "aria-label": "coverage progress" }),
          ` ${p.processed} of ${p.total}`),
        table(["Of the selection", "Products"], Object.entries(report.counts), ([k, n]) => [COVERAGE_WORDS[k] || k, n]),
        report.error ? h("p", { class: "result error" }, report.error) : null,
      );
    };
    const follow = async (reportId) => {
      for (;;) {
        const report = await get("catalog", `/coverage/${reportId}`);
        show(report);
        if (report.status !== "running" || !document.body.contains(body)) return report;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    };
    try {
      show(await get("catalog", `/accounts/${id}/coverage`));
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
      body.append(h("p", {}, "No coverage report yet."));
    }
    section.append(
      body,
      action("Check coverage now", "operator", () =>
        act(line, async () => {
          const started = await post("catalog", `/accounts/${id}/coverage`);
          const report = await follow(started.report_id);
          return `Coverage report ${report.report_id}: ${report.status}.`;
        }),
      ),
      line,
    );
    return section;
  }

  // --- One product (catalog, pricing) ---------------------------------------------------------

  async function renderProduct(container) {
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    const input = h("input", { id: "product-sku", value: params.get("sku") || "" });
    const line = resultLine();
    const body = h("div", { id: "product" });
    const find = () =>
      act(line, async () => {
        const sku = input.value.trim();
        const product = await get("catalog", `/products/${encodeURIComponent(sku)}`);
        body.replaceChildren(productView(product));
        if (shop()) body.append(await listabilityView(product.sku), await pricesView(sku));
        return `Found ${product.sku}.`;
      });
    container.append(
      h("label", { for: "product-sku" }, "SKU"),
      input,
      h("button", { type: "button", onclick: find }, "Find"),
      h("p", { class: "muted" }, "The catalog service finds products by SKU; search by EAN or title is not offered by it yet."),
      line,
      body,
    );
    if (input.value) await find();
  }

  function productView(p) {
    const section = h("section", {}, h("h2", {}, p.operator_title || p.title || p.sku));
    const rows = [
      ["SKU", p.sku],
      ["EAN", p.ean || "none"],
      ["Supplier's title", p.title || "none"],
      ["Operator's title", p.operator_title || "none"],
      ["Brand", p.brand_name || p.brand || "-"],
      ["Supplier category", p.supplier_category_name || p.supplier_category || "-"],
      ["Cost", money(p.cost)],
      ["RRP", money(p.rrp)],
      ["Stock (available)", `${p.stock} (${p.available_stock})`],
      ["Weight", p.weight_kg ? `${p.weight_kg} kg` : "none"],
      ["Flags", (p.flags || []).join(", ") || "-"],
      ["Updated", when(p.updated_at)],
    ];
    section.append(table(["", ""], rows, (r) => r));
    if ((p.images || []).length) {
      section.append(h("p", {}, p.images.slice(0, 6).map((src) => h("img", { src, alt: "", class: "thumb" }))));
    }
    if (can("operator")) {
      const title = h("input", { id: "operator-title", maxlength: 75, size: 60, value: p.operator_title || "" });
      const line = resultLine();
      const sku = encodeURIComponent(p.sku);
      section.append(
        h("label", { for: "operator-title" }, "Offer title"),
        title,
        h("button", { type: "button", onclick: () => act(line, async () => {
          const done = await put("catalog", `/products/${sku}/title`, { title: title.value });
          return `Title set to "${done.title}"; ${done.emitted_items} items sent on.`;
        }) }, "Set title"),
        h("button", { type: "button", onclick: () => act(line, async () => {
          const done = await call("catalog", "DELETE", `/products/${sku}/title`);
          title.value = "";
          return `Back to the supplier's title; ${done.emitted_items} items sent on.`;
        }) }, "Use the supplier's title"),
        line,
      );
    }
    return section;
  }

  // Why this product cannot be listed in the shop: catalog's not-listable list read from just
  // before the SKU (its `after` is exclusive and ordered by SKU), one entry.
  async function listabilityView(sku) {
    const section = h("section", { id: "listability" }, h("h2", {}, `In ${shopName(shop())}`));
    const last = sku.codePointAt(sku.length - 1);
    const before = sku.slice(0, -1) + String.fromCodePoint(Math.max(last - 1, 0)) + "\u{10FFFF}";
    const found = await get("catalog", `/accounts/${encodeURIComponent(shop())}/not-listable`, { after: before, limit: 1 });
    const entry = found.products.find((p) => p.sku === sku);
    if (!entry) {
      section.append(h("p", {}, "Nothing blocks its listing here (when the selection includes it)."));
      return section;
    }
    section.append(
      h("p", {}, "Not listable here:"),
      h("ul", {}, entry.reasons.map((reason, i) => h("li", { dataset: { reason } }, `${entry.in_words[i]}. How to fix: ${FIXES[reason] || "see the product's data."}`))),
    );
    return section;
  }

  async function pricesView(sku) {
    const section = h("section", { id: "prices" }, h("h2", {}, `Prices of ${sku} in ${shopName(shop())}`));
    const chain = h("div", { id: "price-chain" });
    const line = resultLine();
    let prices;
    try {
      prices = await get("pricing", `/accounts/${encodeURIComponent(shop())}/prices/${encodeURIComponent(sku)}`);
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
      section.append(h("p", {}, `No price computed for ${sku} in this shop (not selected, not listable, or not priced yet).`));
      return section;
    }
    const markets = Object.entries(prices.marketplaces);
    section.append(
      h("p", { class: "muted" }, `Rule version ${prices.rule_version ?? "none (the default pricing)"}, computed ${when(prices.computed_at)}.`),
      table(["Marketplace", "Price", "Not priced because", ""], markets, ([mid, m]) => [
        mid,
        m.amount ? `${m.amount} ${m.currency}` : "-",
        m.reason ? (typeof m.reason === "string" ? m.reason : JSON.stringify(m.reason)) : "-",
        h("button", { type: "button", onclick: () => act(line, async () => {
          const explained = await get("pricing", `/accounts/${encodeURIComponent(shop())}/prices/${encodeURIComponent(sku)}/${mid}`);
          chain.replaceChildren(chainView(explained));
          return `Explained ${sku} on ${mid}: ${explained.amount ? `${explained.amount} ${explained.currency}` : "not priced"}.`;
        }) }, `Explain ${mid}`),
      ]),
      line,
      chain,
    );
    return section;
  }

  function chainView(explained) {
    const describe = (step) =>
      Object.entries(step)
        .filter(([k]) => k !== "step")
        .map(([k, v]) => `${k.replace(/_/g, " ")}: ${v !== null && typeof v === "object" ? JSON.stringify(v) : v}`)
        .join("; ");
    return h(
      "div",
      {},
      h("h3", {}, `${explained.sku} on ${explained.marketplace_id}: ${explained.amount ? `${explained.amount} ${explained.currency}` : `not priced (${JSON.stringify(explained.reason)})`}`),
      table(["Step", "Details"], explained.chain, (s) => [s.step, describe(s)]),
    );
  }

  // --- Pricing (pricing) ----------------------------------------------------------------------

  async function renderPricing(container) {
    if (needShop(container)) return;
    const base = `/accounts/${encodeURIComponent(shop())}`;
    const current = await get("pricing", `${base}/rules`);
    const holds = holdsSection(base);
    const line = resultLine();
    const outcome = h("div", { id: "simulation" });
    const editor = h("textarea", { id: "rules", rows: 18, "aria-label": "Rule set (JSON)" }, JSON.stringify(current.rules, null, 2));
    const draft = () => {
      try {
        return JSON.parse(editor.value);
      } catch (exc) {
        throw new Error(`the rule set is not valid JSON: ${exc.message}`);
      }
    };
    container.append(
      h("section", { id: "rules-section" },
        h("h2", {}, `Rules of ${shopName(shop())} (version ${current.version ?? "none"})`),
        current.pending_versions.length ? h("p", { class: "result error" }, `Held by the circuit breaker: versions ${current.pending_versions.join(", ")} (see Holds).`) : null,
        editor,
        action("Simulate", "operator", () => act(line, async () => {
          const result = await post("pricing", `${base}/simulations`, { rules: draft() });
          outcome.replaceChildren(simulationView(result));
          const breaker = result.would_trip_circuit_breaker ? "the circuit breaker WOULD hold this change" : "the circuit breaker would let it through";
          return `Simulated on ${result.products} products: ${result.changed} of ${result.considered} prices would change; ${breaker}. Nothing was saved.`;
        })),
        action("Save rules", "operator", () => act(line, async () => {
          const saved = await put("pricing", `${base}/rules`, draft());
          await holds.redraw();
          return saved.status === "pending"
            ? `Rules saved as version ${saved.version}, held by the circuit breaker: confirm or reject it under Holds.`
            : `Rules saved as version ${saved.version} and applied.`;
        })),
        line,
        outcome,
      ),
    );
    const sku = h("input", { id: "explain-sku" });
    const explainLine = resultLine();
    const explained = h("div");
    container.append(
      h("section", { id: "explain" },
        h("h2", {}, "Explain a price"),
        h("label", { for: "explain-sku" }, "SKU"),
        sku,
        h("button", { type: "button", onclick: () => act(explainLine, async () => {
          explained.replaceChildren(await pricesView(sku.value.trim()));
          return `Prices of ${sku.value.trim()} shown.`;
        }) }, "Show prices"),
        explainLine,
        explained,
      ),
      holds,
      await ratesSection(base),
    );
    await holds.redraw();
  }

  function simulationView(result) {
    const { products, would_trip_circuit_breaker: trips, unpriced, below_floor: below, ...stats } = result;
    return h(
      "div",
      {},
      table(["Products", "Circuit breaker", "Not priced (by reason)", "Below floor"], [result], () => [
        products,
        trips ? "would hold" : "would pass",
        Object.entries(unpriced || {}).map(([r, n]) => `${r}: ${n}`).join(", ") || "none",
        Array.isArray(below) ? below.length : JSON.stringify(below),
      ]),
      h("pre", {}, JSON.stringify(stats, null, 2)),
    );
  }

  // The circuit breaker's pending holds; the result line stays when the list is drawn again.
  function holdsSection(base) {
    const line = resultLine();
    const list = h("div");
    const section = h("section", { id: "holds" }, h("h2", {}, "Holds (circuit breaker)"), list, line);
    const decide = (hold, verdict) =>
      act(line, async () => {
        await post("pricing", `${base}/holds/${hold.id}/${verdict}`);
        await section.redraw();
        return `Hold ${hold.id} ${verdict === "confirm" ? "confirmed: the change is applied" : "rejected: nothing changes"}.`;
      });
    const what = (hold) => {
      const stats = hold.stats || {};
      const change = hold.kind === "rules" ? `rule version ${hold.rule_version}` : `${hold.kind} change`;
      return `${change} by ${hold.created_by || "?"}: ${stats.big_moves ?? "?"} of ${stats.considered ?? "?"} prices would move by more than the limit`;
    };
    section.redraw = async () => {
      const holds = (await get("pricing", `${base}/holds`)).items;
      list.replaceChildren(
        holds.length
          ? table(["Held", "Since", ""], holds, (hold) => [
              what(hold),
              when(hold.created_at),
              h("span", {},
                action("Confirm", "operator", () => decide(hold, "confirm")),
                action("Reject", "operator", () => decide(hold, "reject")),
              ),
            ])
          : h("p", {}, "Nothing held."),
      );
    };
    return section;
  }

  async function ratesSection(base) {
    const rates = (await get("pricing", `${base}/fx-rates`)).items;
    return h("section", { id: "fx" }, h("h2", {}, "Exchange rates"),
      rates.length
        ? table(["1 of", "is", "Source", "As of"], rates, (r) => [r.base, `${r.rate} ${r.quote}`, r.source, r.as_of])
        : h("p", {}, "No rate set: products in another currency are not priced."));
  }

  // --- Orders (orders) ------------------------------------------------------------------------

  async function renderOrders(container) {
    const shopFilter = h("select", { id: "orders-shop", "aria-label": "Orders of shop" },
      h("option", { value: "" }, "every shop"),
      state.accounts.map((a) => h("option", { value: a.id }, a.alias)));
    const status = h("select", { id: "orders-status", "aria-label": "Order status" },
      ["", "BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED"].map((s) => h("option", { value: s }, s || "any status")));
    const search = h("input", { id: "order-id", size: 40 });
    const line = resultLine();
    const list = h("div", { id: "orders-list" });
    const detail = h("div", { id: "order-detail" });
    const open = (orderId) => act(line, async () => {
      const order = await get("orders", `/orders/${encodeURIComponent(orderId)}`);
      detail.replaceChildren(orderView(order));
      return `Order ${order.id} of ${shopName(order.account_id)}.`;
    });
    const load = () => act(line, async () => {
      const page = await get("orders", "/orders", { account_id: shopFilter.value, status: status.value, limit: 100 });
      list.replaceChildren(
        page.items.length
          ? table(["Order", "Shop", "Status", "Fulfilment", "Marketplace", "Total", "Handed off", ""], page.items, (o) => [
              o.id, shopName(o.account_id), o.status, o.fulfillment_status || "-", o.marketplace_id,
              o.total ? (typeof o.total === "object" ? `${o.total.amount} ${o.total.currency}` : o.total) : "-",
              o.received_at ? when(o.received_at) : o.cancelled_at ? `cancelled ${when(o.cancelled_at)}` : "not yet",
              h("button", { type: "button", onclick: () => open(o.id) }, "Open"),
            ])
          : h("p", {}, "No order."),
      );
      return `${page.items.length} orders${page.next ? " (the newest 100)" : ""}.`;
    });
    container.append(
      h("section", {},
        shopFilter, status, h("button", { type: "button", onclick: load }, "List orders"),
        h("label", { for: "order-id" }, "Checkout form id"), search,
        h("button", { type: "button", onclick: () => open(search.value.trim()) }, "Find order"),
        line, list),
      detail,
      await importStatusSection(),
    );
    await load();
  }

  function orderView(order) {
    const form = order.form || {};
    const buyer = form.buyer || {};
    const delivery = form.delivery || {};
    const address = delivery.address || {};
    const section = h("section", { id: "order" }, h("h2", {}, `Order ${order.id}`));
    section.append(
      table(["", ""], [
        ["Shop", shopName(order.account_id)],
        ["Status", order.status],
        ["Fulfilment", order.fulfillment_status || "-"],
        ["Marketplace", order.marketplace_id],
        ["Buyer", [buyer.login, buyer.email].filter(Boolean).join(", ") || "-"],
        ["Delivery", [delivery.method && delivery.method.name, [address.street, address.zipCode, address.city].filter(Boolean).join(" ")].filter(Boolean).join(": ") || "-"],
        ["Handed to fulfilment", order.received_at ? when(order.received_at) : "not yet"],
        ["Cancelled", order.cancelled_at ? when(order.cancelled_at) : "no"],
        ["Replaced by", order.superseded_by || "-"],
        ["Duplicate of", order.duplicate_of || "-"],
        ["Last Allegro event", order.last_event_id || "-"],
      ], (r) => r),
      h("h3", {}, "Lines"),
      table(["Offer", "Quantity", "Price"], form.lineItems || [], (li) => [
        (li.offer && (li.offer.name || li.offer.id)) || "-",
        li.quantity,
        li.price ? `${li.price.amount} ${li.price.currency}` : "-",
      ]),
      h("p", { class: "muted" }, "Supplier orders and tracking come with the fulfilment services."),
      h("details", {}, h("summary", {}, "The checkout form as Allegro sent it"), h("pre", {}, JSON.stringify(form, null, 2))),
    );
    return section;
  }

  async function importStatusSection() {
    const rows = await getAll("orders", "/import/accounts");
    return h("section", { id: "order-import" }, h("h2", {}, "Order import per shop"),
      rows.length
        ? table(["Shop", "Import", "Last poll", "Failures", "Last error"], rows, (r) => [
            shopName(r.account_id), r.status + (r.status_reason ? `: ${r.status_reason}` : ""), when(r.last_polled_at), r.failures, r.last_error || "-",
          ])
        : h("p", {}, "No shop is imported yet."));
  }

  // --- Dead letters (every service's /admin/dlq; admin) ---------------------------------------

  async function renderDeadLetters(container) {
    const line = resultLine();
    const letters = h("div", { id: "dead-letters" });
    container.append(line);
    for (const service of state.config.services) {
      const section = h("section", { dataset: { service } }, h("h2", {}, service));
      container.append(section);
      try {
        const depths = await get(service, "/admin/dlq");
        if (!Object.keys(depths).length) {
          section.append(h("p", {}, "This service consumes no queue."));
          continue;
        }
        section.append(
          table(["Queue", "Dead letters", ""], Object.entries(depths), ([queue, depth]) => [
            queue,
            String(depth),
            depth
              ? h("span", {},
                  h("button", { type: "button", onclick: () => act(line, async () => { await showLetters(service, queue); return `${depth} dead letters in ${service} ${queue}.`; }) }, `Show ${queue}`),
                  h("button", { type: "button", onclick: () => replay(service, queue, null) }, `Replay all of ${queue}`),
                  h("button", { type: "button", class: "danger", onclick: () => purge(service, queue, null) }, `Purge all of ${queue}`))
              : "",
          ]),
        );
      } catch (exc) {
        section.append(h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
      }
    }
    container.append(letters);
    const again = () => { route(); };

    async function showLetters(service, queue) {
      const found = await get(service, `/admin/dlq/${encodeURIComponent(queue)}`, { limit: 100 });
      const inspected = h("pre", { id: "dead-letter-body", hidden: true });
      letters.replaceChildren(
        h("h2", {}, `${service} ${queue}`),
        table(["Message", "Type", "Why", "Failures", "Dead since", "Last error", ""], found, (l) => [
          l.message_id, l.type || "-", l.reason || "-", l.death_count, when(l.first_death_at), l.error || "-",
          h("span", {},
            h("button", { type: "button", onclick: () => act(line, async () => {
              const one = await get(service, `/admin/dlq/${encodeURIComponent(queue)}/${l.message_id}`);
              inspected.hidden = false;
              inspected.textContent = JSON.stringify(one.body, null, 2);
              return `Message ${l.message_id} (${one.type}).`;
            }) }, "Inspect"),
            h("button", { type: "button", onclick: () => replay(service, queue, [l.message_id]) }, "Replay"),
            h("button", { type: "button", class: "danger", onclick: () => purge(service, queue, [l.message_id]) }, "Purge")),
        ]),
        inspected,
      );
    }

    async function replay(service, queue, ids) {
      const ok = await act(line, async () => {
        const done = await post(service, `/admin/dlq/${encodeURIComponent(queue)}/replay`, ids ? { message_ids: ids } : undefined);
        return `Replayed ${done.replayed} message${done.replayed === 1 ? "" : "s"} from ${service} ${queue}.`;
      });
      if (ok) keepLine(again);
    }

    async function purge(service, queue, ids) {
      if (!confirm(`Drop ${ids ? "this message" : "every message"} of ${queue} for good?`)) return;
      const ok = await act(line, async () => {
        const done = await post(service, `/admin/dlq/${encodeURIComponent(queue)}/purge`, ids ? { message_ids: ids } : undefined);
        return `Purged ${done.purged} message${done.purged === 1 ? "" : "s"} from ${service} ${queue}.`;
      });
      if (ok) keepLine(again);
    }

    // Re-render the depths and keep the result line's words on the new page.
    function keepLine(render) {
      const said = line.textContent;
      render();
      const fresh = document.querySelector("#page-dead-letters");
      if (fresh) fresh.prepend(h("div", { class: "result ok", role: "status", id: "dead-letter-result" }, said));
    }
  }

  // --- API keys (auth; admin) -----------------------------------------------------------------

  async function renderKeys(container) {
    const line = resultLine();
    const keys = await getAll("auth", "/api-keys");
    const name = h("input", { id: "key-name" });
    const keyRole = h("select", { id: "key-role" }, ["viewer", "operator", "admin"].map((r) => h("option", {}, r)));
    const shown = h("div", { id: "new-key" });
    container.append(
      table(["Name", "Role", "Created", "Revoked", ""], keys, (k) => [
        k.name, k.role, when(k.created_at), k.revoked_at ? when(k.revoked_at) : "no",
        k.revoked_at ? "" : h("button", { type: "button", class: "danger", onclick: () => {
          if (!confirm(`Revoke the key ${k.name}?`)) return;
          act(line, async () => { await call("auth", "DELETE", `/api-keys/${encodeURIComponent(k.id)}`); return `Key ${k.name} revoked.`; });
        } }, "Revoke"),
      ]),
      h("section", {}, h("h2", {}, "New key"),
        h("label", { for: "key-name" }, "Name"), name,
        h("label", { for: "key-role" }, "Role"), keyRole,
        h("button", { type: "button", onclick: () => act(line, async () => {
          const made = await post("auth", "/api-keys", { name: name.value.trim(), role: keyRole.value });
          shown.replaceChildren(h("p", {}, "The key, shown once: "), h("code", {}, made.api_key));
          return `Key ${made.name} (${made.role}) created.`;
        }) }, "Create key"),
        shown),
      line,
    );
  }

  // --- start ----------------------------------------------------------------------------------

  document.getElementById("logout").addEventListener("click", () => logout("Logged out."));
  document.getElementById("shop").addEventListener("change", (event) => {
    sessionStorage.setItem(SHOP, event.target.value);
    route();
  });
  window.addEventListener("hashchange", route);
  if (location.pathname === "/oauth/callback") renderCallback();
  else if (apiKey()) start();
  else renderLogin();
})();
