// The lmrec page: every call goes to the same API with the bearer token typed here (kept for this tab only).
// Item text is shown with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function token() {
  const value = $("token").value.trim();
  sessionStorage.setItem("lmrec-token", value);
  return value;
}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + token(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(response.status + ": " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
  }
  return response;
}

const texts = new Map();
async function itemText(id) {
  if (!texts.has(id)) {
    try { texts.set(id, (await (await api("/items/" + encodeURIComponent(id))).json()).text || ""); }
    catch (e) { texts.set(id, ""); }
  }
  return texts.get(id);
}

function entry(id, text) {
  const li = document.createElement("li");
  const code = document.createElement("span");
  code.className = "id";
  code.textContent = id;
  li.append(code, document.createTextNode(text));
  return li;
}

function say(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

async function recommend() {
  const user = $("user").value.trim();
  const history = $("history").value.split(",").map((s) => s.trim()).filter(Boolean);
  const body = { k: Number($("k").value) || 10, explain: $("explain").checked };
  if (user) body.user_id = user; else body.history = history;
  if ($("rerank").value) body.rerank = [$("rerank").value];
  say("asking...");
  try {
    const shown = user ? (await (await api("/users/" + encodeURIComponent(user))).json()).history : history;
    const answer = await (await api("/recommend", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    })).json();
    const list = $("history-list");
    list.replaceChildren();
    for (const id of shown.slice(-20)) list.append(entry(id, await itemText(id)));
    const recs = $("recs");
    recs.replaceChildren();
    for (const item of answer.items) {
      const li = entry(item.item_id, await itemText(item.item_id));
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = item.score.toFixed(3);
      li.append(score);
      if (item.explanation) {
        const why = document.createElement("div");
        why.className = "reason";
        why.textContent = item.explanation.lm_reason || item.explanation.reason;
        li.append(why);
      }
      recs.append(li);
    }
    say(`${answer.items.length} items from model ${answer.model_version}` +
        (answer.unknown_items.length ? `; unknown: ${answer.unknown_items.join(", ")}` : ""));
  } catch (e) {
    say(e.message, true);
  }
}

async function simulations() {
  const box = $("sims");
  box.replaceChildren();
  try {
    const found = await (await api("/simulations")).json();
    if (!found.simulations.length) say("no simulations in this run directory (lmrec simulate RUN --out RUN/simulations/NAME)");
    for (const sim of found.simulations) {
      for (const plot of sim.plots) {
        const blob = await (await api(`/simulations/${encodeURIComponent(sim.name)}/${encodeURIComponent(plot)}`)).blob();
        const img = document.createElement("img");
        img.alt = `${sim.name}: ${plot}`;
        img.src = URL.createObjectURL(blob);
        box.append(img);
      }
    }
  } catch (e) {
    say(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("lmrec-token") || "";
  $("go").addEventListener("click", recommend);
  $("rerank").addEventListener("change", () => { if ($("recs").children.length) recommend(); });
  $("load-sims").addEventListener("click", simulations);
  fetch("/health").then((r) => r.json()).then((h) => { $("model").textContent = `${h.model} ${h.model_version}`; });
});
