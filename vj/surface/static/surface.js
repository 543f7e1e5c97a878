// vj's control surface: the page built from the hello message; values both ways over /ws.
// Protocol: docs/surface.md. No build step, nothing fetched but this page's own files.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const token = new URLSearchParams(location.search).get("token");
  // After the page's own set, the show's echoes of the page's older sets may still be on the way:
  // the page's value stands this long (later sets extend it), then the show's newest value is shown.
  const HOLD_MS = 400;
  const ACTIONS = [
    ["tap", "tap"], ["freeze", "freeze"], ["blackout", "blackout"], ["seed.step", "next seed"],
    ["tempo.half", "tempo ÷2"], ["tempo.double", "tempo ×2"], ["beat.nudge:-10", "nudge −"],
    ["beat.nudge:10", "nudge +"], ["beat.resync", "resync"], ["flash", "flash"],
    ["preset.prev", "◀ preset"], ["preset.next", "preset ▶"], ["motion.reset", "still"],
  ];
  let ws = null, specs = {}, controls = {}, values = {}, presets = [], retry = 500;
  let mine = {}, theirs = {}; // per parameter: until when the page's own set stands; the show's value meanwhile
  let wantPreview = localStorage.getItem("vj.preview") !== "off";
  let previewUrl = null;

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  // -- numbers --------------------------------------------------------------------------------
  const fmt = (spec, v) => {
    if (spec.kind === "int") return String(Math.round(v));
    const a = Math.abs(v);
    const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
    return s + (spec.unit ? " " + spec.unit : "");
  };
  const isSlider = (s) => (s.kind === "float" || s.kind === "int") && s.hi - s.lo <= 10000;

  // -- a slider: one pointer each (multi-touch: every finger its own slider) -------------------
  function slider(spec, onMove, onEnd) {
    const box = el("div", "slider"), fill = el("div", "fill"), thumb = el("div", "thumb");
    box.setAttribute("role", "slider");
    box.setAttribute("aria-valuemin", spec.lo);
    box.setAttribute("aria-valuemax", spec.hi);
    box.dataset.param = spec.name;
    box.tabIndex = 0;
    const zero = spec.lo < 0 && spec.hi > 0 ? (0 - spec.lo) / (spec.hi - spec.lo) : spec.lo >= 0 ? 0 : 1;
    if (zero > 0 && zero < 1) { const z = el("div", "zero"); z.style.left = zero * 100 + "%"; box.append(z); }
    box.append(fill, thumb);
    let pointer = null, pending = null, frame = 0, lastTap = 0;
    const state = { held: false };
    const at = (x) => {
      const r = box.getBoundingClientRect();
      let t = Math.min(1, Math.max(0, (x - r.left) / r.width));
      let v = spec.lo + t * (spec.hi - spec.lo);
      return spec.kind === "int" ? Math.round(v) : v;
    };
    const flush = () => { frame = 0; if (pending !== null) { onMove(pending); pending = null; } };
    const move = (v) => { show(v); pending = v; if (!frame) frame = requestAnimationFrame(flush); };
    const show = (v) => {
      const t = (v - spec.lo) / (spec.hi - spec.lo || 1);
      const a = Math.min(t, zero), b = Math.max(t, zero);
      fill.style.left = a * 100 + "%"; fill.style.width = (b - a) * 100 + "%";
      thumb.style.left = t * 100 + "%";
      box.setAttribute("aria-valuenow", v);
    };
    box.addEventListener("pointerdown", (e) => {
      if (pointer !== null) return; // another finger holds it
      const now = performance.now();
      if (now - lastTap < 300) { move(spec.default); cancelAnimationFrame(frame); flush(); onEnd(spec.default); lastTap = 0; return; }
      lastTap = now;
      pointer = e.pointerId; state.held = true; box.classList.add("held");
      box.setPointerCapture(e.pointerId);
      move(at(e.clientX)); e.preventDefault();
    });
    box.addEventListener("pointermove", (e) => { if (e.pointerId === pointer) move(at(e.clientX)); });
    const end = (e) => {
      if (e.pointerId !== pointer) return;
      pointer = null; state.held = false; box.classList.remove("held");
      cancelAnimationFrame(frame); frame = 0;
      const v = pending !== null ? pending : at(e.clientX); pending = null;
      onEnd(v); // the last value always goes
    };
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
    box.addEventListener("keydown", (e) => {
      const step = (spec.kind === "int" ? 1 : (spec.hi - spec.lo) / 100) * (e.shiftKey ? 10 : 1);
      const cur = values[spec.name] ?? spec.default;
      const d = { ArrowRight: step, ArrowUp: step, ArrowLeft: -step, ArrowDown: -step }[e.key];
      if (d) { e.preventDefault(); const v = Math.min(spec.hi, Math.max(spec.lo, cur + d)); show(v); onEnd(v); }
    });
    return { node: box, show, busy: () => state.held };
  }

  // -- one control per parameter ---------------------------------------------------------------
  function control(spec) {
    const wrap = el("div", "control"), head = el("div", "head");
    const val = el("span", "val");
    head.append(el("span", "name", spec.name), val);
    wrap.append(head);
    const set = (v) => { values[spec.name] = v; hold(spec.name); send({ type: "set", param: spec.name, value: v }); };
    let c;
    if (isSlider(spec)) {
      const s = slider(spec, (v) => { val.textContent = fmt(spec, v); set(v); }, (v) => { val.textContent = fmt(spec, v); set(v); });
      wrap.append(s.node);
      c = { update: (v) => { if (!s.busy()) { s.show(v); val.textContent = fmt(spec, v); } } };
    } else if (spec.kind === "bool") {
      const b = el("button", "btn", "off"); b.type = "button";
      b.addEventListener("click", () => { const v = !values[spec.name]; c.update(v); set(v); });
      wrap.append(b);
      c = { update: (v) => { b.classList.toggle("on", !!v); b.textContent = v ? "on" : "off"; val.textContent = ""; } };
    } else if (spec.kind === "enum") {
      const seg = el("div", "seg"), buttons = {};
      for (const choice of spec.choices) {
        const b = el("button", "btn", choice); b.type = "button"; buttons[choice] = b;
        b.addEventListener("click", () => { c.update(choice); set(choice); });
        seg.append(b);
      }
      wrap.append(seg);
      c = { update: (v) => { for (const k in buttons) buttons[k].classList.toggle("on", k === v); val.textContent = ""; } };
    } else { // a number too wide for a slider (seed, seed.walk): typed, or stepped
      const row = el("div", "number"), input = el("input");
      input.type = "number"; input.min = spec.lo; input.max = spec.hi; input.step = spec.kind === "int" ? 1 : "any";
      input.inputMode = "decimal";
      const minus = el("button", "btn", "−"), plus = el("button", "btn", "+");
      const bump = (d) => { const v = Math.min(spec.hi, Math.max(spec.lo, (values[spec.name] ?? 0) + d)); c.update(v); set(v); };
      minus.addEventListener("click", () => bump(-1)); plus.addEventListener("click", () => bump(1));
      input.addEventListener("change", () => { const v = Number(input.value); if (Number.isFinite(v)) set(v); });
      row.append(minus, input, plus); wrap.append(row);
      c = { update: (v) => { if (document.activeElement !== input) input.value = spec.kind === "int" ? v : (+v).toFixed(3); val.textContent = spec.unit; } };
    }
    const desc = el("div", "desc", spec.description); wrap.append(desc);
    wrap.title = spec.description;
    return Object.assign(c, { node: wrap });
  }

  // -- the page --------------------------------------------------------------------------------
  function build(hello) {
    specs = {}; controls = {}; values = {}; mine = {}; theirs = {};
    for (const p of hello.params) { specs[p.name] = p; values[p.name] = p.value; }
    // actions
    const actions = $("actions"); actions.textContent = "";
    const offered = new Set(hello.actions.map((a) => a.name));
    for (const [key, label] of ACTIONS) {
      const [name, value] = key.split(":");
      if (!offered.has(name)) continue;
      const b = el("button", "btn", label); b.type = "button"; b.dataset.action = key;
      b.title = (hello.actions.find((a) => a.name === name) || {}).description || name;
      b.addEventListener("click", () => {
        send(value === undefined ? { type: "action", name } : { type: "action", name, value: Number(value) });
        b.classList.add("flash"); setTimeout(() => b.classList.remove("flash"), 120);
      });
      actions.append(b);
    }
    // prompts
    const box = $("prompts"); box.textContent = "";
    for (const p of hello.prompts) {
      const row = el("div", "prompt"), input = el("input");
      input.type = "text"; input.maxLength = 1000; input.placeholder = "prompt " + p.index; input.enterKeyHint = "send";
      input.dataset.prompt = p.index;
      input.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" || !input.value.trim()) return;
        send({ type: "prompt", index: p.index, text: input.value });
        input.classList.add("sent"); setTimeout(() => input.classList.remove("sent"), 600); input.blur();
      });
      const weight = control(specs["prompt." + p.index + ".weight"]);
      const slide = weight.node.querySelector(".slider");
      row.append(el("span", "idx", String(p.index)), input, slide);
      controls["prompt." + p.index + ".weight"] = weight;
      box.append(row);
    }
    if (specs["prompt.transition"]) { const t = control(specs["prompt.transition"]); controls["prompt.transition"] = t; box.append(t.node); }
    // groups of parameters
    const groups = $("groups"); groups.textContent = "";
    const cards = {};
    for (const p of hello.params) {
      if (controls[p.name] || p.name === "preset") continue;
      if (!cards[p.group]) { cards[p.group] = el("section", "card"); cards[p.group].append(el("h2", "", p.group)); cards[p.group].dataset.group = p.group; groups.append(cards[p.group]); }
      const c = control(p); controls[p.name] = c; cards[p.group].append(c.node);
    }
    setPresets(hello.presets, hello.preset_index);
    setPrompts(hello.prompts);
    for (const name in values) update(name, values[name]);
    meters(hello.meters);
  }

  function hold(name) {
    mine[name] = performance.now() + HOLD_MS;
    setTimeout(() => {
      if (performance.now() < mine[name] || !(name in theirs)) return; // a later set holds it longer
      const v = theirs[name]; delete theirs[name]; update(name, v);
    }, HOLD_MS + 20);
  }
  function update(name, v) {
    if (performance.now() < (mine[name] || 0)) { theirs[name] = v; return; } // an echo older than the page's set
    values[name] = v;
    if (controls[name]) controls[name].update(v);
    if (name === "freeze") toggleAction("freeze", !!v);
    if (name === "blackout") toggleAction("blackout", v >= 0.5);
  }
  function toggleAction(name, on) {
    const b = document.querySelector(`[data-action="${name}"]`);
    if (b) b.classList.toggle("on", on);
  }

  function setPresets(list, index) {
    presets = list || presets;
    const box = $("presets"); box.textContent = "";
    presets.forEach((name, i) => {
      const b = el("button", "btn" + (i === index ? " active" : ""), name); b.type = "button";
      b.addEventListener("click", () => send({ type: "preset", index: i }));
      box.append(b);
    });
    $("preset-name").textContent = presets[index] || "";
  }

  function setPrompts(list) {
    for (const p of list) {
      const input = document.querySelector(`input[data-prompt="${p.index}"]`);
      if (input && document.activeElement !== input) input.value = p.text;
    }
  }

  const beatDots = () => $("beats").querySelectorAll("i");
  function meters(m) {
    if (!m) return;
    $("bpm").textContent = m.bpm.toFixed(1);
    $("clock").textContent = m.clock;
    const beat = Math.floor(m.bar_phase * 4) % 4;
    beatDots().forEach((d, i) => { d.classList.toggle("on", i === beat && m.beat_phase < 0.5); d.classList.toggle("one", i === 0); });
    for (const k of ["level", "bass", "mid", "high"]) $("m-" + k).style.width = Math.min(100, m[k] * 100) + "%";
  }

  function frame(blob) {
    const url = URL.createObjectURL(blob);
    const img = $("preview");
    img.onload = () => { if (previewUrl && previewUrl !== url) URL.revokeObjectURL(previewUrl); previewUrl = url; };
    img.src = url;
  }

  function setPreview(on) {
    wantPreview = on;
    localStorage.setItem("vj.preview", on ? "on" : "off");
    $("preview-toggle").setAttribute("aria-pressed", String(on));
    send({ type: "preview", on });
  }
  $("preview-toggle").addEventListener("click", () => setPreview(!wantPreview));

  // -- the connection ----------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/ws" + (token ? "?token=" + encodeURIComponent(token) : ""));
    ws.binaryType = "blob";
    ws.onopen = () => { retry = 500; $("status").textContent = "live"; $("status").classList.remove("off"); setPreview(wantPreview); };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") { frame(e.data); return; }
      const m = JSON.parse(e.data);
      if (m.type === "hello") build(m);
      else if (m.type === "values") for (const k in m.values) update(k, m.values[k]);
      else if (m.type === "meters") meters(m);
      else if (m.type === "prompts") setPrompts(m.prompts);
      else if (m.type === "preset") setPresets(m.presets, m.index);
    };
    ws.onclose = () => {
      $("status").textContent = "offline"; $("status").classList.add("off");
      setTimeout(connect, retry); retry = Math.min(5000, retry * 2);
    };
  }
  window.vjSurface = { values: () => values, send };
  connect();
})();
