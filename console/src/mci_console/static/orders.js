// Orders: imported checkout forms, one order (Allegro -> BigBuy -> tracking back), the import per
// shop, failed write-backs.

import { state, h, fill, table, when, shopName, can, ApiError, get, getAll, post, resultLine, act, action, append } from "./lib.js";

// --- Orders (orders) ------------------------------------------------------------------------

export async function renderOrders(container) {
  const shopFilter = h("select", { id: "orders-shop", "aria-label": "Orders of shop" },
    h("option", { value: "" }, "every shop"),
    state.accounts.map((a) => h("option", { value: a.id }, a.alias)));
  const status = h("select", { id: "orders-status", "aria-label": "Order status" },
    ["", "BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED"].map((s) => h("option", { value: s }, s || "any status")));
  const buyer = h("input", { id: "orders-buyer", size: 16 });
  const sku = h("input", { id: "orders-sku", size: 16 });
  const search = h("input", { id: "order-id", size: 40 });
  const line = resultLine();
  const list = h("div", { id: "orders-list" });
  const detail = h("div", { id: "order-detail" });
  // Outside what is drawn again: a write-back's retry says what it did after the order is
  // read back.
  const trailLine = h("div", { class: "result", hidden: true, id: "write-back-result" });
  // Allegro (the form) -> BigBuy (the supplier order) -> tracking back on Allegro (orders'
  // history and write-backs): one order's whole path, each part drawn from its service.
  const failedWriteBacks = await failedWriteBacksSection();
  const show = async (orderId) => {
    const order = await get("orders", `/orders/${encodeURIComponent(orderId)}`);
    const trail = orderTrail(order, trailLine, async () => {
      await show(orderId);
      await failedWriteBacks.draw();
    });
    detail.replaceChildren(orderView(order), await supplierOrderView(order.id), trail);
    return order;
  };
  const open = (orderId) => act(line, async () => {
    trailLine.hidden = true;
    const order = await show(orderId);
    return `Order ${order.id} of ${shopName(order.account_id)}.`;
  });
  const load = () => act(line, async () => {
    const page = await get("orders", "/orders", {
      account_id: shopFilter.value, status: status.value, buyer_login: buyer.value.trim(), sku: sku.value.trim(), limit: 100,
    });
    list.replaceChildren(
      page.items.length
        ? table(["Order", "Shop", "Status", "Fulfilment", "Buyer", "Marketplace", "Total", "Handed off", ""], page.items, (o) => [
            o.id, shopName(o.account_id), o.status, o.fulfillment_status || "-", o.buyer_login || "-", o.marketplace_id,
            o.total ? (typeof o.total === "object" ? `${o.total.amount} ${o.total.currency}` : o.total) : "-",
            o.received_at ? when(o.received_at) : o.cancelled_at ? `cancelled ${when(o.cancelled_at)}` : "not yet",
            h("button", { type: "button", onclick: () => open(o.id) }, "Open"),
          ])
        : h("p", {}, "No order."),
    );
    return `${page.items.length} orders${page.next ? " (the newest 100)" : ""}.`;
  });
  append(container,
    h("section", {},
      shopFilter, status,
      h("label", { for: "orders-buyer" }, "Buyer login"), buyer,
      h("label", { for: "orders-sku" }, "SKU"), sku,
      h("button", { type: "button", onclick: load }, "List orders"),
      h("label", { for: "order-id" }, "Checkout form id"), search,
      h("button", { type: "button", onclick: () => open(search.value.trim()) }, "Find order"),
      line, list),
    detail,
    await importStatusSection(),
    failedWriteBacks.section,
    await supplierOrdersSection(),
  );
  await load();
}

export function orderView(order) {
  const form = order.form || {};
  const buyer = form.buyer || {};
  const delivery = form.delivery || {};
  const address = delivery.address || {};
  const section = h("section", { id: "order" }, h("h2", {}, `Order ${order.id}`));
  append(section,
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
    h("details", {}, h("summary", {}, "The checkout form as Allegro sent it"), h("pre", {}, JSON.stringify(form, null, 2))),
  );
  return section;
}

export async function importStatusSection() {
  const section = h("section", { id: "order-import" }, h("h2", {}, "Order import per shop"));
  const line = resultLine();
  const body = h("div");
  // A failing import (tokens or refresh failed, pages failing) can be polled again at once.
  const failing = (r) => r.status === "tokens_failed" || r.status === "refresh_failed" || r.failures > 0;
  const draw = async () => {
    const rows = await getAll("orders", "/import/accounts");
    fill(body, rows.length
      ? table(["Shop", "Import", "Last poll", "Failures", "Last error", ""], rows, (r) => [
          shopName(r.account_id), r.status + (r.status_reason ? `: ${r.status_reason}` : ""), when(r.last_polled_at), r.failures, r.last_error || "-",
          failing(r)
            ? action("Retry the import", "operator", () => act(line, async () => {
                const done = await post("orders", `/import/accounts/${encodeURIComponent(r.account_id)}/retry`);
                await draw();
                return `The import of ${shopName(r.account_id)} is polled again now${done.retried_by ? ` (asked by ${done.retried_by})` : ""}.`;
              }))
            : null,
        ])
      : h("p", {}, "No shop is imported yet."));
  };
  await draw();
  append(section, line, body);
  return section;
}

// --- What orders wrote back to Allegro: shipments (tracking) and fulfilment statuses --------

// orders' history kinds, in words.
const HISTORY_WORDS = {
  imported: (d) => `Read from Allegro: ${d.status}${d.fulfillment_status ? `, fulfilment ${d.fulfillment_status}` : ""}${(d.events || []).length ? ` (${d.events.join(", ")})` : ""}`,
  received: () => "Paid on Allegro: imported and handed to fulfilment (the supplier)",
  cancelled: (d) => `Cancelled on Allegro${d.reason ? ` (${d.reason})` : ""}`,
  reimported: () => "Read from Allegro again (operator)",
  shipment_requested: (d) => `Shipped by the supplier: ${d.carrier || "carrier ?"} ${d.waybill || ""}, to be written to Allegro`,
  shipment_added: (d) => `Tracking on Allegro: shipment added (${d.carrier_name || d.carrier_id || "carrier"})`,
  status_requested: (d) => `Fulfilment status ${d.status} asked${d.by ? ` by ${d.by}` : ""}`,
  fulfillment_set: (d) => `Fulfilment status ${d.status} set on Allegro`,
  write_back_failed: (d) => `Writing to Allegro failed: ${d.error}`,
  write_back_retried: (d) => `Writing to Allegro retried${d.by ? ` by ${d.by}` : ""}`,
};
const WRITE_BACK_STATES = {
  pending: "to be written",
  done: "written to Allegro",
  failed: "failed",
};
const writeBackWhat = (w) =>
  w.kind === "shipment"
    ? `tracking: ${[w.carrier || w.carrier_name || w.carrier_id, w.waybill].filter(Boolean).join(" ")}`
    : `fulfilment status ${w.fulfillment_status}`;

// A failed write-back's retry: orders starts again where it stopped (a waybill added stays).
const retryWriteBack = (line, w, then) => act(line, async () => {
  const done = await post("orders", `/write-backs/${encodeURIComponent(w.id)}/retry`);
  await then();
  return `The write-back of order ${w.checkout_form_id} (${writeBackWhat(w)}) is tried again (now ${WRITE_BACK_STATES[done.state] || done.state}).`;
});

// One order's trail after the hand-off: what orders recorded, and what it wrote back.
export function orderTrail(order, line, again) {
  const section = h("section", { id: "order-trail" }, h("h3", {}, "History"));
  append(section,
    (order.history || []).length
      ? table(["When", "What"], order.history, (e) => [when(e.at), (HISTORY_WORDS[e.kind] || (() => e.kind))(e.detail || {})])
      : h("p", {}, "Nothing recorded yet."),
    h("h3", {}, "Written back to Allegro"),
    (order.write_backs || []).length
      ? table(["What", "State", "Attempts", "Why", ""], order.write_backs, (w) => [
          writeBackWhat(w), h("span", { dataset: { writeBack: w.state } }, WRITE_BACK_STATES[w.state] || w.state), w.attempts, w.last_error || "-",
          w.state === "failed" ? action("Retry the write-back", "operator", () => retryWriteBack(line, w, again)) : null,
        ])
      : h("p", {}, "Nothing to write back yet: tracking comes when the supplier ships."),
    line);
  return section;
}

// Write-backs Allegro refused for good, across shops, each retried by an operator. The section
// and how to draw it again (a retry from an order's trail takes its row out).
export async function failedWriteBacksSection() {
  const section = h("section", { id: "failed-write-backs" }, h("h2", {}, "Write-backs to Allegro that failed"));
  const line = resultLine();
  const body = h("div");
  const draw = async () => {
    const rows = await getAll("orders", "/write-backs", { state: "failed" });
    fill(body, rows.length
      ? table(["Order", "Shop", "What", "Attempts", "Why", ""], rows, (w) => [
          w.checkout_form_id, shopName(w.account_id), writeBackWhat(w), w.attempts, w.last_error || "-",
          action("Retry", "operator", () => retryWriteBack(line, w, draw)),
        ])
      : h("p", {}, "No write-back failed."));
  };
  await draw();
  append(section, line, body);
  return { section, draw };
}

// --- Supplier orders and the wallet (the BigBuy connector) ----------------------------------

export const SUPPLIER_STATES = {
  waiting_wallet: "waiting for the wallet",
  new: "new",
  sending: "being sent",
  sent: "at BigBuy",
  shipped: "shipped",
  loss: "held back: BigBuy's cost exceeds the sale",
  out_of_stock: "out of stock at BigBuy",
  bad_address: "address refused",
  carrier_unavailable: "no carrier available",
  unknown_product: "unknown product at BigBuy",
  failed: "failed",
  cancelled: "cancelled before sending",
  cancel_manual: "to cancel in BigBuy's panel",
};
// What an operator may send again (the connector's RESENDABLE states).
const RESENDABLE = ["loss", "out_of_stock", "waiting_wallet", "bad_address", "carrier_unavailable", "unknown_product", "failed"];

// The shipping address's fields as BigBuy names them, in the order a label is written.
const ADDRESS_FIELDS = [
  ["firstName", "First name"],
  ["lastName", "Last name"],
  ["companyName", "Company"],
  ["address", "Street and number (at most 70 characters)"],
  ["postcode", "Postcode"],
  ["town", "Town"],
  ["country", "Country (ISO code, e.g. PL)"],
  ["phone", "Phone"],
  ["email", "E-mail"],
];
const addressWords = (a) =>
  [[a.firstName, a.lastName].filter(Boolean).join(" "), a.companyName, a.address, [a.postcode, a.town].filter(Boolean).join(" "), a.country, a.phone, a.email]
    .filter(Boolean).join(", ") || "-";

// The order at the supplier: the connector keeps it under the Allegro order's id. An operator
// sends a refused order again from here: as it is, accepting a loss, or with the address
// corrected (the connector checks it as BigBuy does and keeps it for every later send).
export async function supplierOrderView(orderId, onChange = async () => {}) {
  const section = h("section", { id: "supplier-order" }, h("h3", {}, `At the supplier (BigBuy): order ${orderId}`));
  const body = h("div");
  // Outside what is drawn again: an action's words stay after the order is read back.
  const line = h("div", { class: "result", hidden: true, id: "supplier-order-result" });
  append(section, body, line);
  const resend = (json, said) => act(line, async () => {
    const done = await post("bigbuy", `/supplier-orders/${encodeURIComponent(orderId)}/resend`, json);
    await draw();
    await onChange();
    return said(done);
  });
  const draw = async () => {
    let found;
    try {
      found = await get("bigbuy", `/supplier-orders/${encodeURIComponent(orderId)}`);
    } catch (exc) {
      const none = exc instanceof ApiError && exc.status === 404;
      fill(body, h("p", { class: none ? "muted" : "result error" }, none ? "The BigBuy connector has not received this order." : exc.words()));
      return;
    }
    const now = (d) => SUPPLIER_STATES[d.state] || d.state;
    const resendable = RESENDABLE.includes(found.state);
    fill(body,
      table(["", ""], [
        ["State", h("span", { id: "supplier-order-state" }, now(found))],
        ["BigBuy order", found.bigbuy_order_id ? `${found.bigbuy_order_id}${found.bigbuy_status ? ` (${found.bigbuy_status})` : ""}` : "not at BigBuy"],
        ["BigBuy's cost", found.cost_total ? `${found.cost_total} EUR` : "-"],
        ["Why", found.error ? `${supplierError(found.error)}${found.error_code ? ` (${found.error_code})` : ""}` : "-"],
        ["Shipping address", h("span", { id: "supplier-order-address" }, addressWords(found.shipping_address || {}))],
        ["Tracking", found.tracking_number ? `${found.carrier || ""} ${found.tracking_number}`.trim() : "not yet"],
        ["Attempts", found.attempts],
      ], (r) => r),
      resendable && !can("operator")
        ? h("p", { class: "muted" }, "An operator can correct the address or send this order again.")
        : null,
      resendable
        ? action("Send again as it is", "operator", () =>
            resend({}, (d) => `Order ${orderId} is sent again (now ${now(d)}).`))
        : null,
      resendable && found.state === "loss"
        ? action("Send again, accepting the loss", "operator", () =>
            resend({ accept_loss: true }, (d) => `Order ${orderId} is sent again at a loss (now ${now(d)}).`))
        : null,
      resendable && can("operator")
        ? addressForm(found, (address) =>
            resend({ address }, (d) => `Order ${orderId} is sent again to ${addressWords(d.shipping_address)} (now ${now(d)}).`))
        : null,
    );
  };
  await draw();
  return section;
}

// The address form: prefilled with the order's address; only the fields changed are sent.
function addressForm(found, send) {
  const current = found.shipping_address || {};
  const inputs = {};
  const form = h("form", { id: "address-form", class: "grid" });
  for (const [name, label] of ADDRESS_FIELDS) {
    const id = `address-${name}`;
    inputs[name] = h("input", { id, name, value: current[name] || "", maxlength: name === "address" ? 70 : 200 });
    append(form, h("div", {}, h("label", { for: id }, label), h("br"), inputs[name]));
  }
  append(form, h("div", {}, h("button", { type: "submit" }, "Correct the address and send again")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const changed = {};
    for (const [name, input] of Object.entries(inputs)) {
      // BigBuy takes the ISO code in capitals ("pl" is refused).
      const value = name === "country" ? input.value.trim().toUpperCase() : input.value.trim();
      if (value !== (current[name] || "")) changed[name] = value;
    }
    send(changed);
  });
  return h("details", { open: found.state === "bad_address" },
    h("summary", {}, found.state === "bad_address" ? "BigBuy refused the address: correct it" : "Correct the address"),
    form);
}

// The connector's error: BigBuy's message, and the fields a form error names.
export function supplierError(error) {
  if (typeof error !== "object" || error === null) return String(error);
  const named = (f) => (typeof f === "object" && f !== null ? [f.field || f.path, f.message || f.reason || f.code].filter(Boolean).join(": ") : String(f));
  const list = (v) => (Array.isArray(v) ? v.map(named) : v && typeof v === "object" ? Object.entries(v).map(([k, m]) => `${k}: ${m}`) : []);
  // BigBuy's ER004 gives a postcode of the right format: said with the refusal.
  const example = error.data && typeof error.data === "object" && error.data.zipExample
    ? ` A postcode there looks like ${error.data.zipExample}.` : "";
  const message = error.message ? `${error.message}${example}` : null;
  const said = [message, ...list(error.fields), ...list(error.details)].filter(Boolean);
  return said.length ? said.join("; ") : JSON.stringify(error);
}

export async function supplierOrdersSection() {
  const section = h("section", { id: "supplier-orders" }, h("h2", {}, "Supplier orders (BigBuy)"));
  const wallet = h("div", { id: "wallet" });
  const filter = h("select", { id: "supplier-state", "aria-label": "Supplier order state" },
    Object.entries(SUPPLIER_STATES).map(([s, words]) => h("option", { value: s }, words)),
    h("option", { value: "" }, "any state"));
  const line = h("div", { class: "result", hidden: true, id: "supplier-result" });
  const list = h("div", { id: "supplier-orders-list" });
  const detail = h("div", { id: "supplier-order-detail" });
  const open = (orderId) => act(line, async () => {
    detail.replaceChildren(await supplierOrderView(orderId, async () => {
      await drawWallet();
      await listed();
    }));
    return `Supplier order ${orderId} opened below.`;
  });
  const drawWallet = async () => {
    const w = await get("bigbuy", "/wallet");
    const balance = w.balance === null ? "unknown (BigBuy cannot be asked now)" : `${w.balance} ${w.currency}`;
    wallet.replaceChildren(h("p", { id: "wallet-summary" },
      `Wallet balance: ${balance}. ${w.waiting_orders === 1 ? "1 order waits" : `${w.waiting_orders} orders wait`} for it, ${w.waiting_total} ${w.currency} in all`,
      w.shortfall !== null && Number(w.shortfall) > 0 ? `: top it up by at least ${w.shortfall} ${w.currency}.` : ".",
      w.waiting_orders ? " They go out by themselves, oldest first, once the balance covers them." : ""));
  };
  const load = () => act(line, listed);
  const listed = async () => {
    const page = await get("bigbuy", "/supplier-orders", { state: filter.value, limit: 100 });
    list.replaceChildren(
      page.items.length
        ? table(["Allegro order", "Shop", "State", "BigBuy's cost", "Sale", "Why", "Since", ""], page.items, (o) => [
            o.order_id, shopName(o.account_id), SUPPLIER_STATES[o.state] || o.state,
            o.cost_total ? `${o.cost_total} EUR` : "-",
            o.total ? (typeof o.total === "object" ? `${o.total.amount} ${o.total.currency}` : o.total) : "-",
            o.error ? `${supplierError(o.error)}${o.error_code ? ` (${o.error_code})` : ""}` : "-",
            when(o.created_at),
            h("span", {},
              h("button", { type: "button", onclick: () => open(o.order_id) }, "Open"),
              RESENDABLE.includes(o.state)
                ? action("Send again", "operator", () => act(line, async () => {
                    const done = await post("bigbuy", `/supplier-orders/${encodeURIComponent(o.order_id)}/retry`);
                    await drawWallet();
                    return `Order ${o.order_id} is sent again (now ${SUPPLIER_STATES[done.state] || done.state}).`;
                  }))
                : null),
          ])
        : h("p", {}, `No supplier order ${filter.value ? SUPPLIER_STATES[filter.value] : ""}.`),
    );
    return `${page.items.length} supplier order${page.items.length === 1 ? "" : "s"}${filter.value ? ` ${SUPPLIER_STATES[filter.value]}` : ""}${page.next ? " (the oldest 100)" : ""}.`;
  };
  filter.addEventListener("change", load);
  try {
    await drawWallet();
  } catch (exc) {
    // The connector may be down while orders are fine: say so here, keep the page.
    append(section, h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
    return section;
  }
  append(section, wallet, h("label", { for: "supplier-state" }, "State"), filter, line, list, detail);
  await load();
  return section;
}
