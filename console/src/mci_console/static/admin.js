// Admin: every service's dead letters, and operator API keys.

import { state, h, table, when, ApiError, call, get, post, getAll, resultLine, act, rerender, append } from "./lib.js";

// --- Dead letters (every service's /admin/dlq; admin) ---------------------------------------

export async function renderDeadLetters(container) {
  const line = resultLine();
  const letters = h("div", { id: "dead-letters" });
  append(container, line);
  for (const service of state.config.services) {
    const section = h("section", { dataset: { service } }, h("h2", {}, service));
    append(container, section);
    try {
      const depths = await get(service, "/admin/dlq");
      if (!Object.keys(depths).length) {
        append(section, h("p", {}, "This service consumes no queue."));
        continue;
      }
      append(section,
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
      append(section, h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
    }
  }
  append(container, letters);
  const again = () => { rerender(); };

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

export async function renderKeys(container) {
  const line = resultLine();
  const keys = await getAll("auth", "/api-keys");
  const name = h("input", { id: "key-name" });
  const keyRole = h("select", { id: "key-role" }, ["viewer", "operator", "admin"].map((r) => h("option", {}, r)));
  const shown = h("div", { id: "new-key" });
  append(container,
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
