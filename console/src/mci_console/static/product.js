// One product: supplier data, listability in the shop, prices with their explanation.

import { FIXES, h, table, can, shop, when, money, shopName, ApiError, call, get, put, resultLine, act } from "./lib.js";

// --- One product (catalog, pricing) ---------------------------------------------------------

export async function renderProduct(container) {
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
export async function listabilityView(sku) {
  const section = h("section", { id: "listability" }, h("h2", {}, `In ${shopName(shop())}`));
  const last = sku.codePointAt(sku.length - 1);
  const before = sku.slice(0, -1) + String.fromCodePoint(Math.max(last - 1, 0)) + "\u{10FFFF}";
  const found = await get("catalog", `/accounts/${encodeURIComponent(shop())}/not-listable`, { after: before, limit: 1 });
  const entry = found.items.find((p) => p.sku === sku);
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

export async function pricesView(sku) {
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
