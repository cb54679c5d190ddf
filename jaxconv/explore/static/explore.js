// jaxconv explorer: the page's controls, URL and drawing. No window rule lives here: output sizes and
// formulas come from /api/explain (jaxconv.cli.explain), cells, taps, divisors and ceil-mode windows from
// /api/frames (jaxconv.frames.layout), values from /api/numbers (jaxconv's ops).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const TEXT = ["input", "kernel", "stride", "padding", "dilation", "output_padding"];
  const DEFAULTS = { op: "conv", input: "5, 5", kernel: "3", stride: "", padding: "0", dilation: "1", output_padding: "0" };
  // which controls an op has (torch's signatures): shown only where they apply
  const APPLIES = {
    dilation: (op) => op !== "avg_pool",
    output_padding: (op) => op === "transpose",
    ceil_mode: (op) => op.endsWith("pool"),
    count_include_pad: (op) => op === "avg_pool",
    x: (op, numbers) => numbers,
    w: (op, numbers) => numbers && !op.endsWith("pool"),
  };
  const CELL = 32;
  const state = { api: null, frames: null, numbers: null, frame: 0, timer: null, seq: 0, presets: {} };

  const applies = (name) => !APPLIES[name] || APPLIES[name]($("op").value, $("numbers").checked);
  const rowsToQuery = (text) => text.trim().split(/\s*\n\s*/).filter((r) => r).join(";");
  const rowsFromQuery = (text) => text.split(";").join("\n");
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : String(+v.toPrecision(4))) : String(v).replace("-inf", "−∞"));
  const dims = (size) => (size.length === 2 ? size : [1, size[0]]);

  // ---------------------------------------------------------------- the configuration <-> form <-> URL
  function formQuery(withView) {
    const q = new URLSearchParams();
    const op = $("op").value;
    if (withView && $("preset").value) q.set("preset", $("preset").value);
    q.set("op", op);
    for (const name of TEXT) {
      const v = $(name).value.trim();
      if (name === "input" || name === "kernel") q.set(name, v);
      else if (applies(name) && v !== "" && v !== DEFAULTS[name]) q.set(name, v);
    }
    if (applies("ceil_mode") && $("ceil_mode").checked) q.set("ceil_mode", "1");
    if (applies("count_include_pad") && !$("count_include_pad").checked) q.set("count_include_pad", "0");
    if ($("numbers").checked) {
      q.set("numbers", "1");
      for (const name of ["x", "w"]) if (applies(name) && $(name).value.trim()) q.set(name, rowsToQuery($(name).value));
    }
    if (withView && state.frame > 0) q.set("frame", String(state.frame));
    return q;
  }

  function setForm(q) {
    $("op").value = q.get("op") || DEFAULTS.op;
    for (const name of TEXT) $(name).value = q.has(name) ? q.get(name) : DEFAULTS[name];
    $("ceil_mode").checked = ["1", "true"].includes(q.get("ceil_mode"));
    $("count_include_pad").checked = !["0", "false"].includes(q.get("count_include_pad"));
    $("numbers").checked = ["1", "true"].includes(q.get("numbers"));
    $("x").value = rowsFromQuery(q.get("x") || "");
    $("w").value = rowsFromQuery(q.get("w") || "");
    $("preset").value = q.get("preset") && state.presets[q.get("preset")] ? q.get("preset") : "";
    $("dims").value = $("input").value.split(",").filter((v) => v.trim()).length === 1 ? "1" : "2";
    state.frame = Math.max(0, parseInt(q.get("frame") || "0", 10) || 0);
    showApplicable();
  }

  function showApplicable() {
    for (const el of document.querySelectorAll("[data-for]")) el.hidden = !applies(el.dataset.for);
  }

  // 1-d <-> 2-d: keep the first entry of per-dim values, repeat the input size
  function switchDims() {
    const two = $("dims").value === "2";
    for (const name of TEXT) {
      const v = $(name).value.trim();
      if (!/^\d+(\s*,\s*\d+)*$/.test(v)) continue; // strings and per-side pairs are left to the user
      const first = v.split(",")[0].trim();
      if (!two) $(name).value = first;
      else if (name === "input" && !v.includes(",")) $(name).value = `${first}, ${first}`;
    }
    changed();
  }

  // ---------------------------------------------------------------- fetching
  async function getJSON(path) {
    try {
      const r = await fetch(path, { headers: { Accept: "application/json" } });
      return await r.json();
    } catch (e) {
      return { error: `explore: the server did not answer (${e.message}); is jaxconv-explore still running?` };
    }
  }

  async function update() {
    const view = formQuery(true);
    history.replaceState(null, "", `?${view}`);
    $("permalink").href = location.href;
    const api = formQuery(false).toString();
    if (api === state.api) { drawFrame(); return; }
    state.api = api;
    const seq = ++state.seq;
    document.body.dataset.state = "loading";
    const [ex, fr, nb] = await Promise.all([
      getJSON(`/api/explain?${api}`), getJSON(`/api/frames?${api}`),
      $("numbers").checked ? getJSON(`/api/numbers?${api}`) : Promise.resolve(null),
    ]);
    if (seq !== state.seq) return;
    showExplain(ex);
    state.frames = ex.error || fr.error ? null : fr;
    state.numbers = nb && !nb.error ? nb : null;
    const pictureError = ex.error ? "" : fr.error || (nb && nb.error) || "";
    $("picture-error").hidden = !pictureError;
    $("picture-error").textContent = pictureError;
    const count = state.frames ? state.frames.frame_count : 0;
    $("frame-count").textContent = `${count} ${count === 1 ? "frame" : "frames"}, one per output position`;
    $("frame-count").dataset.count = String(count);
    $("frame").max = String(Math.max(0, count - 1));
    state.frame = Math.min(state.frame, Math.max(0, count - 1));
    if (!count) stop();
    drawAll();
    document.body.dataset.state = "ready";
    document.body.dataset.query = api;
  }

  function showExplain(ex) {
    $("error").hidden = !ex.error;
    $("error").textContent = ex.error || "";
    $("output-size").textContent = ex.error ? "—" : ex.output_size.join(" × ");
    $("header").textContent = ex.error ? "" : ex.header;
    $("formulas").textContent = ex.error ? "" : ex.formulas.join("\n");
    $("cli").textContent = ex.error ? "" : ex.command;
  }

  // ---------------------------------------------------------------- drawing
  function el(name, attrs, parent, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function sizeSvg(svg, rows, cols) {
    svg.replaceChildren();
    svg.setAttribute("viewBox", `-1 -1 ${cols * CELL + 2} ${rows * CELL + 2}`);
    svg.style.width = `${cols * CELL + 2}px`; // the style sheet caps it at the container's width
  }

  function drawAll() {
    const fr = state.frames;
    for (const id of ["grid-svg", "out-svg", "kernel-svg"]) $(id).replaceChildren();
    $("kernel-figure").hidden = true;
    if (!fr) { $("frame-label").textContent = ""; $("frame-info").textContent = ""; $("expression").textContent = ""; return; }
    drawFrame();
  }

  function drawFrame() {
    const fr = state.frames;
    if (!fr) return;
    const nb = state.numbers;
    const f = fr.frames[state.frame];
    $("frame").value = String(state.frame);
    $("frame-label").textContent = `frame ${state.frame + 1} of ${fr.frame_count}`;

    // the input grid: cell kinds from the server, the window's taps over it
    const [rows, cols] = dims(fr.size);
    const g = $("grid-svg");
    sizeSvg(g, rows, cols);
    const defs = el("defs", {}, g);
    const pat = el("pattern", { id: "hatch", width: 4, height: 4, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
    el("rect", { width: 4, height: 4, fill: "#fff" }, pat);
    el("line", { x1: 0, y1: 0, x2: 0, y2: 4, stroke: "#9aa3ad", "stroke-width": 1.5 }, pat);
    const valueAt = (r, c) => (nb ? (fr.size.length === 2 ? nb.grid[r][c] : nb.grid[c]) : null);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const kind = fr.kinds[r * cols + c];
        el("rect", { class: `cell ${kind}`, x: c * CELL, y: r * CELL, width: CELL, height: CELL }, g);
      }
    }
    const inWindow = new Set();
    for (const tap of f.taps) {
      const [r, c, t] = fr.size.length === 2 ? tap : [0, tap[0], tap[1]];
      inWindow.add(r * cols + c);
      el("rect", { class: "tap", x: c * CELL + 1.5, y: r * CELL + 1.5, width: CELL - 3, height: CELL - 3 }, g);
      el("text", { class: "tapno", x: c * CELL + 3, y: r * CELL + 9 }, g, String(t));
    }
    if (nb) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const v = valueAt(r, c);
          if (v === "nan") continue;
          const cls = inWindow.has(r * cols + c) ? "value tap-value" : "value";
          el("text", { class: cls, x: c * CELL + CELL / 2, y: r * CELL + CELL / 2 + 3 }, g, fmt(v));
        }
      }
    }

    // the output grid: the current position, extra ceil-mode windows, divisors or values
    const [orows, ocols] = dims(fr.output);
    const o = $("out-svg");
    sizeSvg(o, orows, ocols);
    fr.frames.forEach((fi, i) => {
      const [r, c] = fr.output.length === 2 ? fi.output : [0, fi.output[0]];
      const cls = `out${i === state.frame ? " current" : ""}${fi.extra ? " extra" : ""}`;
      el("rect", { class: cls, x: c * CELL, y: r * CELL, width: CELL, height: CELL }, o);
      let label = "";
      if (nb) label = fmt(fr.output.length === 2 ? nb.output[r][c] : nb.output[c]);
      else if (fi.divisor !== null) label = `÷${fi.divisor}`;
      if (label) el("text", { class: `value out-value${i === state.frame ? " current" : ""}`, x: c * CELL + CELL / 2, y: r * CELL + CELL / 2 }, o, label);
    });

    // numbers mode: the kernel's values, taps numbered row-major
    const showKernel = nb && nb.kernel;
    $("kernel-figure").hidden = !showKernel;
    if (showKernel) {
      const k = Array.isArray(nb.kernel[0]) ? nb.kernel : [nb.kernel];
      const ks = $("kernel-svg");
      sizeSvg(ks, k.length, k[0].length);
      k.forEach((row, r) => row.forEach((v, c) => {
        el("rect", { class: "kcell", x: c * CELL, y: r * CELL, width: CELL, height: CELL }, ks);
        el("text", { class: "kno", x: c * CELL + 3, y: r * CELL + 9 }, ks, String(r * row.length + c + 1));
        el("text", { class: "value", x: c * CELL + CELL / 2, y: r * CELL + CELL / 2 + 3 }, ks, fmt(v));
      }));
    }

    const where = `output (${f.output.join(", ")})`;
    const parts = [`${where}: the window covers ${f.taps.length} grid cells and reads ${f.inputs.length} input cells`];
    if (f.divisor !== null) parts.push(`divisor ${f.divisor}`);
    if (f.extra) parts.push("an extra window that only ceil_mode adds");
    if ($("op").value === "transpose") parts.push("drawn as the stride-1 convolution it equals: input cells stride apart, kernel flipped");
    $("frame-info").textContent = `${parts.join("; ")}.`;
    $("expression").textContent = nb ? `${where} = ${nb.terms[state.frame]}` : "";
  }

  // ---------------------------------------------------------------- the player
  function go(i) {
    const n = state.frames ? state.frames.frame_count : 0;
    if (!n) return;
    state.frame = ((i % n) + n) % n;
    update();
  }
  function stop() {
    clearInterval(state.timer);
    state.timer = null;
    $("play").textContent = "▶ play";
    $("play").setAttribute("aria-pressed", "false");
  }
  function togglePlay() {
    if (state.timer) { stop(); return; }
    if (!state.frames || !state.frames.frame_count) return;
    state.timer = setInterval(() => go(state.frame + 1), 700);
    $("play").textContent = "⏸ pause";
    $("play").setAttribute("aria-pressed", "true");
  }

  // ---------------------------------------------------------------- wiring
  let debounce = null;
  function changed() {
    $("preset").value = "";
    state.frame = 0;
    showApplicable();
    clearTimeout(debounce);
    debounce = setTimeout(update, 200);
  }

  async function loadPresets() {
    const data = await getJSON("/api/presets");
    if (data.error) return;
    const groups = {};
    for (const name of data.groups) {
      groups[name] = document.createElement("optgroup");
      groups[name].label = name;
      $("preset").appendChild(groups[name]);
    }
    for (const p of data.presets) {
      state.presets[p.id] = p;
      const opt = document.createElement("option");
      opt.value = p.id;
      opt.textContent = p.title;
      groups[p.group].appendChild(opt);
    }
  }

  async function start() {
    await loadPresets();
    setForm(new URLSearchParams(location.search));
    $("preset").addEventListener("change", () => {
      const p = state.presets[$("preset").value];
      if (!p) return;
      stop();
      setForm(new URLSearchParams(p.query));
      update();
    });
    for (const id of ["op", "ceil_mode", "count_include_pad", "numbers"]) $(id).addEventListener("change", changed);
    for (const id of [...TEXT, "x", "w"]) $(id).addEventListener("input", changed);
    $("dims").addEventListener("change", switchDims);
    $("controls").addEventListener("submit", (e) => e.preventDefault());
    $("first").addEventListener("click", () => go(0));
    $("prev").addEventListener("click", () => go(state.frame - 1));
    $("next").addEventListener("click", () => go(state.frame + 1));
    $("play").addEventListener("click", togglePlay);
    $("frame").addEventListener("input", () => go(parseInt($("frame").value, 10)));
    await update();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
