// The status page's script: reads status/data (JSON) and metrics (the OpenMetrics text
// Prometheus scrapes) from the listener that served the page, every few seconds, and writes
// what they say into the page. Everything is set as text, never as markup: operation names and
// refusal reasons come from outside.
"use strict";

const REFRESH_MS = 3000;
const HISTOGRAMS = ["vote_seconds", "open_to_queued_seconds", "queued_to_result_seconds", "guest_action_seconds"];

function field(name) {
  return document.querySelector(`[data-field="${name}"]`);
}

function set(name, value, cls) {
  const el = field(name);
  if (!el) return;
  el.textContent = value === null || value === undefined ? "–" : String(value);
  el.className = el.className.replace(/\b(ok|warn|bad)\b/g, "").trim();
  if (cls) el.classList.add(cls);
}

function seconds(s) {
  if (!Number.isFinite(s)) return "–";
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`;
  if (s < 120) return `${s.toFixed(2)} s`;
  return `${(s / 60).toFixed(1)} min`;
}

function between(from, to) {
  return from === null || from === undefined || to === null || to === undefined ? "–" : seconds((to - from) / 1000);
}

function render(data) {
  set("proxy.version", data.proxy.version);
  set("proxy.address", data.proxy.address);
  set("proxy.chainId", data.proxy.chainId);
  set("guestsConnected", data.guestsConnected, data.guestsConnected > 0 ? "ok" : "bad");

  const tee = data.tee;
  set("tee.teeId", tee ? tee.teeId : "none yet");
  set("tee.platform", tee && tee.platform);
  set("tee.codeVersion", tee && tee.codeVersion);

  const a = data.attestation;
  if (!a.checked) {
    set("attestation.verdict", "not checked by this proxy", "warn");
  } else if (a.accepted === true) {
    set("attestation.verdict", a.simulated ? "accepted (simulated: no hardware vouches)" : "accepted", a.simulated ? "warn" : "ok");
  } else if (a.accepted === false) {
    set("attestation.verdict", `refused: ${a.reason}`, "bad");
  } else {
    set("attestation.verdict", "no guest checked yet", "warn");
  }
  set("attestation.measurement", a.measurement);
  set("attestation.measurementHex", a.measurementHex);
  set("attestation.tcb", a.tcb);

  const p = data.policy;
  set("policy.trustedEpoch", p.trustedEpoch);
  set("policy.latestEpoch", p.latestEpoch);
  set("policy.source", p.source);
  set("policy.chainBlock", p.chainBlock);
  if (p.trustedEpoch === null || p.trustedEpoch === undefined) {
    set("policy.verdict", "the TEE trusts no policy yet", "bad");
  } else if (p.latestEpoch === null || p.trustedEpoch >= p.latestEpoch) {
    set("policy.verdict", "in step", "ok");
  } else {
    set("policy.verdict", `behind by ${p.latestEpoch - p.trustedEpoch}`, "warn");
  }

  set("queue.open", data.queue.open);
  set("queue.pending", data.queue.pending);
  set("queue.results", data.queue.results);

  const body = field("recent");
  const rows = data.recent.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    tr.dataset.state = r.state;
    const cells = [
      [`${r.id.slice(0, 10)}…${r.id.slice(-6)}`, "mono"],
      [r.op],
      [r.kind],
      [r.state, r.state === "done" ? "ok" : r.state === "refused" ? "bad" : "warn"],
      [r.deliveries, "num"],
      [between(r.openedMs, r.queuedMs), "num"],
      [between(r.queuedMs, r.resultMs), "num"],
      [between(r.queuedMs, data.now), "num"],
    ];
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tr.title = r.id;
    return tr;
  });
  body.replaceChildren(...rows);
  body.dataset.count = String(rows.length);
}

// The cumulative buckets of each histogram: {name: {buckets: [[le, count]], sum, count}}.
function parseHistograms(text) {
  const out = {};
  for (const name of HISTOGRAMS) out[name] = { buckets: [], sum: 0, count: 0 };
  for (const line of text.split("\n")) {
    const m = /^fcc_proxy_(\w+?)_(bucket|sum|count)(?:\{le="([^"]+)"\})? (\S+)$/.exec(line);
    if (!m || !(m[1] in out)) continue;
    const h = out[m[1]];
    const v = Number(m[4]);
    if (m[2] === "bucket") h.buckets.push([m[3] === "+Inf" ? Infinity : Number(m[3]), v]);
    else h[m[2]] = v;
  }
  return out;
}

// The upper bound of the bucket holding quantile q (what a histogram can say of it).
function quantile(h, q) {
  if (h.count === 0) return NaN;
  const want = q * h.count;
  for (const [le, c] of h.buckets) if (c >= want) return le;
  return Infinity;
}

const SVG = "http://www.w3.org/2000/svg";

function chart(name, h) {
  const svg = document.querySelector(`svg[data-chart="${name}"]`);
  const w = 300, hgt = 130, base = 112;
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  // Per-bucket counts from the cumulative ones; the empty tail beyond the largest value is cut.
  const bars = h.buckets.map(([le, c], i) => [le, c - (i ? h.buckets[i - 1][1] : 0)]);
  let last = bars.length - 1;
  while (last > 0 && bars[last][1] === 0) last--;
  const shown = bars.slice(0, Math.max(last + 1, 6));
  const max = Math.max(1, ...shown.map(([, n]) => n));
  const step = w / Math.max(shown.length, 1);
  const nodes = [];
  const axis = document.createElementNS(SVG, "line");
  axis.setAttribute("x1", "0"); axis.setAttribute("x2", String(w));
  axis.setAttribute("y1", String(base)); axis.setAttribute("y2", String(base));
  nodes.push(axis);
  shown.forEach(([le, n], i) => {
    const r = document.createElementNS(SVG, "rect");
    const height = Math.round((n / max) * (base - 8));
    r.setAttribute("x", (i * step + 1).toFixed(1));
    r.setAttribute("width", Math.max(step - 2, 1).toFixed(1));
    r.setAttribute("y", String(base - height));
    r.setAttribute("height", String(height));
    r.dataset.le = String(le);
    r.dataset.n = String(n);
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `≤ ${le === Infinity ? "∞" : seconds(le)}: ${n}`;
    r.appendChild(tip);
    nodes.push(r);
    if (i % 2 === 0) {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", (i * step + 1).toFixed(1));
      t.setAttribute("y", String(hgt - 4));
      t.textContent = le === Infinity ? "∞" : seconds(le);
      nodes.push(t);
    }
  });
  svg.replaceChildren(...nodes);
  svg.dataset.count = String(h.count);
  svg.setAttribute("aria-label", `${name}: ${h.count} observations`);
  const text = h.count === 0
    ? "no observations yet"
    : `${h.count} observed · mean ${seconds(h.sum / h.count)} · p50 ≤ ${seconds(quantile(h, 0.5))} · p99 ≤ ${seconds(quantile(h, 0.99))}`;
  set(`chart.${name}`, text);
}

async function refresh() {
  try {
    const [data, metrics] = await Promise.all([
      fetch("status/data", { cache: "no-store" }).then((r) => {
        if (!r.ok) throw new Error(`status/data answered ${r.status}`);
        return r.json();
      }),
      fetch("metrics", { cache: "no-store" }).then((r) => {
        if (!r.ok) throw new Error(`metrics answered ${r.status}`);
        return r.text();
      }),
    ]);
    render(data);
    const histograms = parseHistograms(metrics);
    for (const name of HISTOGRAMS) chart(name, histograms[name]);
    set("updated", new Date(data.now).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"));
    field("error").style.display = "none";
    document.body.dataset.loaded = "true";
  } catch (e) {
    const el = field("error");
    el.textContent = `could not read the proxy: ${e.message}`;
    el.style.display = "block";
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
