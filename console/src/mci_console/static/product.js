// One product: supplier data, listability in the shop, prices with their explanation.

import { FIXES, OFFER_FIXES, OFFER_STATES, h, fill, table, can, shop, when, money, shopName, allegroErrors, ApiError, call, get, post, put, resultLine, act, append } from "./lib.js";

// --- One product (catalog, pricing) ---------------------------------------------------------

// How many products a search lists at most (the operator narrows it with more words).
const SEARCH_LIMIT = 50;

export async function renderProduct(container) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const input = h("input", { id: "product-sku", value: params.get("sku") || "", size: 40 });
  const line = resultLine();
  const matches = h("div", { id: "product-matches" });
  const body = h("div", { id: "product" });
  // One product by its SKU: catalog's data, and in the selected shop its offer and prices.
  const show = async (sku) => {
    let product = null;
    try {
      product = await get("catalog", `/products/${encodeURIComponent(sku)}`);
    } catch (exc) {
      // offers may hold an offer for a SKU the catalogue no longer has: still show it.
      if (!(exc instanceof ApiError && exc.status === 404) || !shop()) throw exc;
    }
    body.replaceChildren(product ? productView(product) : h("p", { class: "muted" }, `The catalogue has no product ${sku}.`));
    if (shop()) {
      if (product) append(body, await listabilityView(product.sku));
      append(body, await offerView(sku));
      if (product) append(body, await pricesView(sku));
    }
    return product;
  };
  const open = (sku) => act(line, async () => {
    const product = await show(sku);
    return product ? `Found ${product.sku}.` : `The catalogue has no product ${sku}; its offer in ${shopName(shop())} is below.`;
  });
  // A SKU first (what every other page links with); else catalog's search: the EAN, or words
  // of the title. One match is opened, several are listed to choose from.
  const find = () =>
    act(line, async () => {
      const text = input.value.trim();
      matches.replaceChildren();
      const bySku = await get("catalog", `/products/${encodeURIComponent(text)}`).catch((exc) => {
        if (exc instanceof ApiError && exc.status === 404) return null;
        throw exc;
      });
      if (bySku) {
        await show(text);
        return `Found ${bySku.sku}.`;
      }
      const found = await get("catalog", "/products", { q: text, limit: SEARCH_LIMIT });
      if (found.items.length === 1) {
        await show(found.items[0].sku);
        return `Found ${found.items[0].sku} (${found.items[0].ean === text ? "by its EAN" : "by its title"}).`;
      }
      if (!found.items.length) {
        // No product, but offers may still hold an offer under that SKU in the shop.
        if (shop()) {
          await show(text);
          return `The catalogue has no product ${text}; its offer in ${shopName(shop())}, if any, is below.`;
        }
        body.replaceChildren();
        return `No product has the SKU or EAN ${text}, or a title with it.`;
      }
      body.replaceChildren();
      matches.replaceChildren(
        table(["SKU", "EAN", "Title", ""], found.items, (p) => [
          p.sku, p.ean || "none", p.title || "-",
          h("button", { type: "button", onclick: () => open(p.sku) }, `Open ${p.sku}`),
        ]),
      );
      return `${found.items.length}${found.next ? ` (the first ${SEARCH_LIMIT})` : ""} products match ${text}: open one.`;
    });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") find();
  });
  append(container,
    h("label", { for: "product-sku" }, "SKU, EAN or title"),
    input,
    h("button", { type: "button", onclick: find }, "Find"),
    line,
    matches,
    body,
  );
  if (input.value) await open(input.value);
}

export function productView(p) {
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
  append(section, table(["", ""], rows, (r) => r));
  if ((p.images || []).length) {
    append(section, h("p", {}, p.images.slice(0, 6).map((src) => h("img", { src, alt: "", class: "thumb" }))));
  }
  if (can("operator")) {
    const title = h("input", { id: "operator-title", maxlength: 75, size: 60, value: p.operator_title || "" });
    const line = h("div", { class: "result", hidden: true, id: "title-result" });
    const sku = encodeURIComponent(p.sku);
    append(section,
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
export async function listabilityView(sku) {
  const section = h("section", { id: "listability" }, h("h2", {}, `In ${shopName(shop())}`));
  const last = sku.codePointAt(sku.length - 1);
  const before = sku.slice(0, -1) + String.fromCodePoint(Math.max(last - 1, 0)) + "\u{10FFFF}";
  const found = await get("catalog", `/accounts/${encodeURIComponent(shop())}/not-listable`, { after: before, limit: 1 });
  const entry = found.items.find((p) => p.sku === sku);
  if (!entry) {
    append(section, h("p", {}, "Nothing blocks its listing here (when the selection includes it)."));
    return section;
  }
  append(section,
    h("p", {}, "Not listable here:"),
    h("ul", {}, entry.reasons.map((reason, i) => h("li", { dataset: { reason } }, `${entry.in_words[i]}. How to fix: ${FIXES[reason] || "see the product's data."}`))),
  );
  return section;
}

export async function pricesView(sku) {
  const section = h("section", { id: "prices" }, h("h2", {}, `Prices of ${sku} in ${shopName(shop())}`));
  const chain = h("div", { id: "price-chain" });
  const line = resultLine();
  let prices;
  try {
    prices = await get("pricing", `/accounts/${encodeURIComponent(shop())}/prices/${encodeURIComponent(sku)}`);
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
    append(section, h("p", {}, `No price computed for ${sku} in this shop (not selected, not listable, or not priced yet).`));
    return section;
  }
  const markets = Object.entries(prices.marketplaces);
  append(section,
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

export function chainView(explained) {
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

// --- Its offer in the shop (offers) ---------------------------------------------------------

export async function offerView(sku) {
  const section = h("section", { id: "offer" }, h("h2", {}, `Offer of ${sku} in ${shopName(shop())}`));
  const path = `/accounts/${encodeURIComponent(shop())}`;
  const body = h("div");
  const line = h("div", { class: "result", hidden: true, id: "offer-result" });
  const draw = async () => {
    let offer;
    try {
      offer = await get("offers", `${path}/offers/${encodeURIComponent(sku)}`);
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
      body.replaceChildren(h("p", {}, "No offer yet: the catalogue has not sent this product to publication in this shop (not selected, or not listable)."));
      return null;
    }
    const reason = offer.reason;
    const errors = allegroErrors(reason && reason.allegro_errors);
    const notSent = Object.entries(offer.not_sent || {});
    fill(body,
      h("p", { id: "offer-state", dataset: { state: offer.state } }, `State: ${OFFER_STATES[offer.state] || offer.state}.`),
      reason
        ? h("div", { class: "reason", dataset: { reason: reason.code } },
            h("p", { id: "offer-reason" }, `Why: ${reason.message}.`),
            errors.length ? h("ul", { id: "allegro-errors", "aria-label": "Allegro's errors" }, errors.map((e) => h("li", {}, `Allegro: ${e}`))) : null,
            h("p", { class: "fix" }, `How to fix: ${OFFER_FIXES[reason.code] || "read the history below."}`))
        : null,
      offer.waiting_for.length ? h("p", {}, `Waiting: ${offer.waiting_for.map((w) => w.message).join("; ")}.`) : null,
      table(["", ""], [
        ["Allegro offer", offer.offer_id ? `${offer.offer_id} (${offer.allegro_status || "status unknown"})` : "not on Allegro"],
        ["Per marketplace", Object.entries(offer.marketplaces || {}).map(([m, v]) => `${m}: ${(v && v.state) || "-"}`).join(", ") || "-"],
        ["Stock", offer.stock],
        ["Prices", Object.entries(offer.prices || {}).map(([m, p]) => `${m} ${money(p)}`).join(", ") || "none yet"],
        ["Not sent", notSent.map(([m, why]) => `${m}: ${typeof why === "string" ? why : JSON.stringify(why)}`).join("; ") || "-"],
        ["Attempts", offer.attempts],
        ["Next step", offer.next_step ? `${offer.next_step} ${when(offer.next_step_at)}` : "none"],
      ], (r) => r),
      h("h3", {}, "History"),
      table(["When", "From", "To", "Cause", "Reason and Allegro's errors"], offer.history, (t) => [
        when(t.at),
        t.from_state ? OFFER_STATES[t.from_state] || t.from_state : "-",
        OFFER_STATES[t.to_state] || t.to_state,
        t.cause,
        t.reason ? [t.reason.message, ...allegroErrors(t.reason.allegro_errors)].join("; ") : "-",
      ]),
    );
    return offer;
  };
  await draw();
  append(section, body);
  if (can("operator")) {
    append(section,
      h("button", { type: "button", onclick: () => act(line, async () => {
        const done = await post("offers", `${path}/offers/retry`, { skus: [sku] });
        const offer = await draw();
        if (!done.retried) {
          const state = offer ? OFFER_STATES[offer.state] || offer.state : "missing";
          return `Nothing retried: only failed or not-listable offers are retried, and this one is ${state}.`;
        }
        return `Retried: ${sku} is checked again (now ${OFFER_STATES[offer.state] || offer.state}).`;
      }) }, "Retry this offer"),
      h("button", { type: "button", onclick: () => act(line, async () => {
        // offers' dry run judges the whole shop: without the EAN look-ups, which would spend
        // Allegro's catalogue budget on every other product too.
        const run = await post("offers", `${path}/publication/dry-run`);
        const failing = run.failing_checks.find((f) => f.sku === sku);
        const would = Object.entries(run.would).filter(([, v]) => v.skus.includes(sku)).map(([k]) => k);
        if (failing) {
          const why = failing.problems
            ? failing.problems.map((p) => `${p.code.replace(/_/g, " ")}: ${p.detail}`).join("; ")
            : `it waits for ${(failing.waiting_for || []).join(", ")}`;
          return `Dry run: publishing now would fail for ${sku}: ${why}.`;
        }
        if (would.length) return `Dry run: publishing now would ${would.join(" and ")} ${sku} on Allegro.`;
        return `Dry run: publishing now would do nothing with ${sku}.`;
      }) }, "Dry run"),
    );
  }
  append(section, line);
  return section;
}
