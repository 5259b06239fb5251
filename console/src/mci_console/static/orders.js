// Orders: imported checkout forms, one order, the import per shop.

import { state, h, table, shop, when, shopName, get, getAll, resultLine, act } from "./lib.js";

// --- Orders (orders) ------------------------------------------------------------------------

export async function renderOrders(container) {
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

export function orderView(order) {
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

export async function importStatusSection() {
  const rows = await getAll("orders", "/import/accounts");
  return h("section", { id: "order-import" }, h("h2", {}, "Order import per shop"),
    rows.length
      ? table(["Shop", "Import", "Last poll", "Failures", "Last error"], rows, (r) => [
          shopName(r.account_id), r.status + (r.status_reason ? `: ${r.status_reason}` : ""), when(r.last_polled_at), r.failures, r.last_error || "-",
        ])
      : h("p", {}, "No shop is imported yet."));
}
