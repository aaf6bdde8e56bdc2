// The GAN playground: plain browser JavaScript over the service's own HTTP API, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = {models: [], pinned: [], job: null, history: [], walkTimer: null, blobs: [], insideAsked: 0,
               projection: null};

// ---- HTTP and errors -------------------------------------------------------------------------------

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      detail = Array.isArray(body.detail)
        ? body.detail.map((d) => `${d.loc.join(".")}: ${d.msg}`).join("\n") : (body.detail || detail);
    } catch (e) { /* not JSON: keep the status line */ }
    throw new Error(detail);
  }
  return response;
}

const postJSON = (path, body) => api(path, {method: "POST", headers: {"content-type": "application/json"},
                                            body: JSON.stringify(body)});

function showError(error) { $("#error").textContent = error ? String(error.message || error) : ""; }

async function guarded(action) {
  showError(null);
  try { await action(); } catch (e) { showError(e); }
}

// ---- the curl command for what is on screen ----------------------------------------------------------

function shellQuote(text) { return "'" + text.replace(/'/g, "'\\''") + "'"; }

function showCurl(method, path, body, output) {
  let command = `curl -s`;
  if (method !== "GET") command += ` -X ${method}`;
  command += ` ${location.origin}${path}`;
  if (body !== undefined) command += ` -H 'content-type: application/json' -d ${shellQuote(JSON.stringify(body))}`;
  if (output) command += ` -o ${output}`;
  $("#curl").textContent = command;
}

// ---- models, versions, classes ---------------------------------------------------------------------

const current = () => state.models.find((m) => m.name === $("#model").value);
const version = () => $("#version").value;
const truncation = () => Number($("#truncation").value);
const label = () => (current() && current().conditional ? $("#label").value : null);

function fillSelect(select, values, selected) {
  // an unchanged list keeps its options, so an answer arriving while someone picks does not close the picker
  const same = select.options.length === values.length
    && values.every(([value, text], i) => select.options[i].value === value && select.options[i].text === text);
  if (!same) select.replaceChildren(...values.map(([value, text]) => new Option(text, value)));
  if (selected !== undefined && values.some(([value]) => value === selected)) select.value = selected;
}

async function loadModels(selectModel, selectVersion) {
  state.models = (await (await api("/models")).json()).models;
  const keep = selectModel || $("#model").value;
  fillSelect($("#model"), state.models.map((m) => [m.name, m.name]), keep);
  fillVersions(selectVersion);
}

function fillVersions(selectVersion) {
  const model = current();
  if (!model) return;
  const options = [["latest", `latest (${model.latest})`]];
  if (model.best) options.push(["best", `best (${model.best})`]);
  [...model.versions].reverse().forEach((v) => options.push([v, v]));
  fillSelect($("#version"), options, selectVersion || $("#version").value);
  $("#label-box").hidden = !model.conditional;
  if (model.conditional) fillSelect($("#label"), model.classes.map((c) => [c, c]), $("#label").value);
  for (const fieldset of document.querySelectorAll(".terms fieldset")) {
    const box = fieldset.querySelector(".term-label");
    box.hidden = !model.conditional;
    // a term's class starts as the class picked above, and can be changed per term
    if (model.conditional) fillSelect(box.querySelector("select"), model.classes.map((c) => [c, c]), $("#label").value);
  }
  // a generator that normalises its latents (progan) refuses truncation: the slider rests at 1
  $("#truncation").disabled = !model.truncates;
  if (!model.truncates) {
    $("#truncation").value = 1;
    $("#truncation-value").textContent = "1.00";
  }
  const {height, width, channels} = model.image;
  $("#model-info").textContent = `${model.architecture}, ${width}x${height}x${channels}, latent ${model.latent_dim}`
    + (model.conditional ? `, ${model.classes.length} classes` : ", unconditional");
}

// ---- the grid of seeds and pinning -----------------------------------------------------------------

function seedUrl(seed, seedLabel = label()) {
  const query = new URLSearchParams({version: version(), truncation: truncation()});
  if (seedLabel !== null) query.set("label", seedLabel);
  return `/models/${encodeURIComponent($("#model").value)}/seeds/${seed}.png?${query}`;
}

function renderGrid() {
  const start = Math.max(0, Number($("#seed-start").value) || 0);
  const count = Math.min(64, Math.max(1, Number($("#grid-count").value) || 16));
  const seeds = Array.from({length: count}, (_, i) => start + i);
  $("#grid").replaceChildren(...seeds.map((seed) => {
    const figure = document.createElement("figure");
    figure.dataset.seed = seed;
    figure.className = isPinned(seed) ? "pin" : "";
    const img = new Image();
    img.className = "tile";
    img.alt = `seed ${seed}`;
    img.src = seedUrl(seed);
    const caption = document.createElement("figcaption");
    caption.textContent = seed;
    figure.append(img, caption);
    figure.addEventListener("click", () => togglePin(seed));
    return figure;
  }));
  const body = {model: $("#model").value, version: version(), seeds, truncation: truncation()};
  if (label() !== null) body.labels = [label()];
  showCurl("POST", "/generate", body, "grid.png");
}

const isPinned = (seed) => state.pinned.some((p) => p.seed === seed);

function togglePin(seed) {
  state.pinned = isPinned(seed) ? state.pinned.filter((p) => p.seed !== seed)
                                : [...state.pinned, {seed, label: label()}];
  document.querySelectorAll("#grid figure").forEach((f) => {
    f.className = isPinned(Number(f.dataset.seed)) ? "pin" : "";
  });
  renderPinned();
}

const pinName = (p) => (p.label !== null ? `${p.seed} (${p.label})` : `${p.seed}`);

function renderPinned() {
  if (!state.pinned.length) {
    $("#pinned").innerHTML = '<span class="hint">none yet</span>';
  } else {
    $("#pinned").replaceChildren(...state.pinned.map((p) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.dataset.seed = p.seed;
      const img = new Image();
      img.src = seedUrl(p.seed, p.label);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "\u00d7";
      remove.title = "unpin";
      remove.addEventListener("click", () => togglePin(p.seed));
      chip.append(img, pinName(p), remove);
      return chip;
    }));
  }
  const options = state.pinned.map((p, i) => [String(i), pinName(p)]);
  fillSelect($("#walk-a"), options, $("#walk-a").value || "0");
  fillSelect($("#walk-b"), options, $("#walk-b").value || (options.length > 1 ? "1" : "0"));
  if ($("#walk-a").value === $("#walk-b").value && options.length > 1) {
    $("#walk-b").value = String(options.length - 1);  // a walk from a pin to itself shows nothing
  }
  for (const fieldset of document.querySelectorAll(".terms fieldset")) {
    const ticked = new Set([...fieldset.querySelectorAll("input:checked")].map((box) => Number(box.value)));
    fieldset.querySelector(".seeds").replaceChildren(...state.pinned.map((p) => {
      const row = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = p.seed;
      box.checked = ticked.has(p.seed);
      const img = new Image();
      img.src = seedUrl(p.seed, p.label);
      row.append(box, img, String(p.seed));
      return row;
    }));
  }
}

// ---- latent walk -----------------------------------------------------------------------------------

const endpoint = (p) => (p.label !== null ? {seed: p.seed, label: p.label} : {seed: p.seed});

async function walk() {
  const a = state.pinned[Number($("#walk-a").value)], b = state.pinned[Number($("#walk-b").value)];
  if (!a || !b) throw new Error("pin two images first (click them in the grid), then pick them as From and To");
  const body = {model: $("#model").value, version: version(), start: endpoint(a), end: endpoint(b),
                steps: Number($("#walk-steps").value), method: $("#walk-method").value, truncation: truncation()};
  const frames = (await (await postJSON("/interpolate", {...body, format: "json"})).json()).frames
    .map((b64) => `data:image/png;base64,${b64}`);
  $("#walk-strip").replaceChildren(...frames.map((src) => Object.assign(new Image(), {src})));
  clearInterval(state.walkTimer);
  let i = 0, direction = 1;
  $("#walk-frame").hidden = false;
  $("#walk-frame").src = frames[0];
  state.walkTimer = setInterval(() => {  // there and back again
    if (i + direction < 0 || i + direction >= frames.length) direction = -direction;
    i += direction;
    $("#walk-frame").src = frames[i];
    $("#walk-frame").dataset.frame = i;
  }, 120);
  showCurl("POST", "/interpolate", {...body, format: "gif"}, "walk.gif");
  state.blobs.forEach(URL.revokeObjectURL);
  state.blobs = [];
  for (const format of ["gif", "webp"]) {
    const blob = await (await postJSON("/interpolate", {...body, format})).blob();
    const url = URL.createObjectURL(blob);
    state.blobs.push(url);
    Object.assign($(`#walk-${format}`), {href: url, hidden: false});
  }
}

// ---- vector arithmetic -----------------------------------------------------------------------------

async function arithmetic() {
  const terms = [];
  for (const fieldset of document.querySelectorAll(".terms fieldset")) {
    const seeds = [...fieldset.querySelectorAll(".seeds input:checked")].map((box) => Number(box.value));
    if (!seeds.length) continue;
    const term = {weight: Number(fieldset.dataset.weight), seeds};
    if (current().conditional) term.label = fieldset.querySelector(".term-label select").value;
    terms.push(term);
  }
  if (!terms.length) throw new Error("tick pinned seeds under A, B and C (each term is their mean)");
  const body = {model: $("#model").value, version: version(), terms,
                variations: Number($("#arith-variations-count").value)};
  const answer = await (await postJSON("/arithmetic", {...body, format: "json"})).json();
  const image = (b64) => Object.assign(new Image(), {src: `data:image/png;base64,${b64}`});
  $("#arith-terms").replaceChildren(...answer.terms.map(image));
  Object.assign($("#arith-result"), {src: `data:image/png;base64,${answer.result}`, hidden: false});
  $("#arith-variations").replaceChildren(...answer.variations.map(image));
  showCurl("POST", "/arithmetic", body, "arithmetic.png");
}

// ---- training --------------------------------------------------------------------------------------

async function loadOptions() {
  const options = await (await api("/playground/options")).json();
  fillSelect($("#train-dataset"), options.datasets.map((d) => [d, d]), "synthetic");
  fillSelect($("#train-architecture"), options.architectures.map((a) => [a.name, a.name + (a.conditional ? " (conditional)" : "")]));
}

async function train(event) {
  event.preventDefault();
  const steps = Number($("#train-steps").value);
  const spec = {
    model: $("#train-model").value, dataset: {kind: $("#train-dataset").value},
    architecture: $("#train-architecture").value, steps, batch_size: Number($("#train-batch").value),
    image_size: Number($("#train-size").value), channels: Number($("#train-channels").value),
    base_width: Number($("#train-width").value),
    checkpoint_every: Math.max(1, Math.ceil(steps / 2)), sample_every: Math.max(1, Math.ceil(steps / 10)),
  };
  const job = await (await postJSON("/train", spec)).json();
  showCurl("POST", "/train", spec);
  state.job = job.id;
  state.history = [];
  $("#train-status").textContent = `job ${job.id}: queued`;
  $("#train-progress").hidden = false;
  $("#train-progress").value = 0;
  follow(job.id, spec.model);
}

function follow(jobId, model) {
  const events = new EventSource(`/train/${jobId}/events`);
  let samplesFromJob = true, plotFromJob = true;
  events.addEventListener("status", (message) => {
    const job = JSON.parse(message.data);
    const p = job.progress;
    $("#train-status").textContent = `job ${jobId}: ${job.status}` + (p ? `, step ${p.step} of ${p.total}` : "")
      + (p && p.eta_s ? `, about ${Math.round(p.eta_s)} s left` : "");
    if (!p) return;
    $("#train-progress").max = p.total;
    $("#train-progress").value = p.step;
    $("#train-losses").textContent = Object.entries(p.losses).map(([k, v]) => `loss ${k} ${v.toFixed(3)}`)
      .concat(Object.entries(p.scores).map(([k, v]) => `${k} ${v.toFixed(3)}`)).join(", ");
    const scores = Object.fromEntries(Object.entries(p.scores).map(([k, v]) => [`score ${k}`, v]));
    state.history.push({step: p.step, losses: {...p.losses, ...scores}});
    drawChart();
    const samples = $("#train-samples");
    // GET /train/{id}/samples where the service has it, else the sample grid of the newest version
    const fallback = () => {
      samplesFromJob = false;
      if (job.versions.length) {
        samples.src = `/models/${encodeURIComponent(model)}/versions/${job.versions.at(-1)}/samples.png`;
      }
    };
    samples.onerror = () => (samplesFromJob ? fallback() : (samples.hidden = true));
    samples.onload = () => (samples.hidden = false);
    if (samplesFromJob) samples.src = `/train/${jobId}/samples?step=${p.step}`; else fallback();
    const plot = $("#train-plot");
    plot.onerror = () => { plotFromJob = false; plot.hidden = true; $("#train-chart").hidden = false; };
    plot.onload = () => { plot.hidden = false; $("#train-chart").hidden = true; };
    if (plotFromJob) plot.src = `/train/${jobId}/plot.png?step=${p.step}`;
  });
  events.addEventListener("end", async (message) => {
    events.close();
    const end = JSON.parse(message.data);
    const job = await (await api(`/train/${jobId}`)).json();
    if (end.status !== "finished") {
      $("#train-status").textContent = `job ${jobId}: ${end.status}` + (job.error ? `: ${job.error}` : "");
      if (end.status === "failed") return;
    }
    if (job.versions.length) {
      await loadModels(model, job.versions.at(-1));
      renderGrid();
      $("#train-status").textContent = `job ${jobId}: ${end.status}; ${model} version ${job.versions.at(-1)}`
        + " is served and selected above";
      $("#train-status").dataset.version = job.versions.at(-1);
    }
  });
  events.addEventListener("error", (message) => {
    if (message.data) showError(JSON.parse(message.data).detail);  // the service's own error event
    events.close();
  });
}

function drawChart() {
  const canvas = $("#train-chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const points = state.history;
  if (points.length < 1) return;
  const names = Object.keys(points.at(-1).losses);
  const values = points.flatMap((p) => names.map((n) => p.losses[n])).filter(Number.isFinite);
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const maxStep = points.at(-1).step || 1;
  const colors = ["#1a73e8", "#d93025", "#188038", "#f9ab00"];
  names.forEach((name, k) => {
    ctx.strokeStyle = colors[k % colors.length];
    ctx.beginPath();
    points.forEach((p, i) => {
      const x = 30 + (canvas.width - 40) * (p.step / maxStep);
      const y = canvas.height - 20 - (canvas.height - 30) * ((p.losses[name] - lo) / span);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(name, 4, 12 + 12 * k);
  });
}

// ---- the same seeds through every model ------------------------------------------------------------

function fillCompareClasses() {
  // the classes of the first conditional model; another conditional model draws the class of that name
  const conditional = state.models.find((m) => m.conditional);
  $("#compare-label-box").hidden = !conditional;
  if (conditional) fillSelect($("#compare-label"), conditional.classes.map((c) => [c, c]), $("#compare-label").value);
}

function renderCompare() {
  const start = Math.max(0, Number($("#compare-start").value) || 0);
  const count = Math.min(16, Math.max(1, Number($("#compare-count").value) || 8));
  const seeds = Array.from({length: count}, (_, i) => start + i);
  const picked = $("#compare-label").value;
  $("#compare-table").replaceChildren(...state.models.map((model) => {
    const row = document.createElement("tr");
    row.dataset.model = model.name;
    const name = document.createElement("th");
    name.textContent = `${model.name} (${model.architecture})`;
    row.append(name);
    const modelLabel = model.conditional ? (model.classes.includes(picked) ? picked : model.classes[0]) : null;
    for (const seed of seeds) {
      const query = new URLSearchParams({version: "latest"});
      if (modelLabel !== null) query.set("label", modelLabel);
      const img = new Image();
      img.alt = `${model.name} seed ${seed}`;
      img.src = `/models/${encodeURIComponent(model.name)}/seeds/${seed}.png?${query}`;
      const cell = document.createElement("td");
      cell.append(img);
      row.append(cell);
    }
    return row;
  }));
}

// ---- inside the network ---------------------------------------------------------------------------

function showFilters() {
  const model = current();
  if (!model) return;
  const img = $("#inside-filters");
  img.onload = () => (img.hidden = false);
  img.onerror = () => (img.hidden = true);
  img.src = `/models/${encodeURIComponent(model.name)}/versions/${version()}/filters.png`;
  $("#inside-label-box").hidden = !model.conditional;
  if (model.conditional) {
    fillSelect($("#inside-label"), model.classes.map((c) => [c, c]), $("#inside-label").value || $("#label").value);
  }
}

// the layer list comes with every answer: after a change of model, the first answer fills the picker
async function showActivations(withCurl = true) {
  const model = current();
  if (!model) return;
  const body = {model: model.name, version: version(), seed: Math.max(0, Number($("#inside-seed").value) || 0)};
  if (model.conditional) body.label = $("#inside-label").value;
  if ($("#inside-layer").value) body.layer = $("#inside-layer").value;
  const asked = ++state.insideAsked;
  const answer = await (await postJSON("/visualize", {...body, format: "json"})).json();
  if (asked !== state.insideAsked) return;  // a later request, for another layer or model, answers instead
  fillSelect($("#inside-layer"), answer.layers.map((l) => [l.name, `${l.name} (${l.shape.join("\u00d7")})`]),
             answer.layer);
  const maps = $("#inside-maps");
  Object.assign(maps, {src: `data:image/png;base64,${answer.png_base64}`, hidden: false});
  maps.dataset.layer = answer.layer;
  $("#inside-info").textContent = `${answer.layer}: the first ${answer.shown} of ${answer.channels} channels, `
    + `row by row, each map enlarged ${answer.scale}\u00d7`;
  if (withCurl) showCurl("POST", "/visualize", {...body, layer: answer.layer}, "activations.png");
}

function refreshInside() {
  $("#inside-layer").replaceChildren();  // another model has other layers
  showFilters();
  return showActivations(false);
}

// ---- projection ------------------------------------------------------------------------------------

function fillProjectClasses() {
  const model = current();
  $("#project-label-box").hidden = !(model && model.conditional);
  if (model && model.conditional) {
    fillSelect($("#project-label"), model.classes.map((c) => [c, c]), $("#project-label").value || $("#label").value);
  }
  state.projection = null;  // a latent of another model walks nowhere here
  $("#project-walk").disabled = true;
}

async function project() {
  const model = current(), file = $("#project-file").files[0];
  if (!file) throw new Error("choose a PNG picture to project first");
  const form = new FormData();
  form.append("image", file);
  form.append("model", model.name);
  form.append("version", version());
  form.append("steps", String(Number($("#project-steps").value) || 200));
  if (model.conditional) form.append("label", $("#project-label").value);
  Object.assign($("#project-picture"), {src: URL.createObjectURL(file), hidden: false});
  $("#project-info").textContent = "searching...";
  const answer = await (await api("/project", {method: "POST", body: form})).json();
  state.projection = {model: answer.model, version: answer.version, latent: answer.latent, label: answer.label};
  Object.assign($("#project-result"), {src: `data:image/png;base64,${answer.reconstruction_png_base64}`,
                                       hidden: false});
  $("#project-info").textContent = `${answer.steps} steps in ${answer.seconds.toFixed(1)} s, loss ${answer.loss}; `
    + `mean squared error ${answer.mse.toFixed(4)} (pixels in 0..1)`;
  $("#project-walk").disabled = false;
  $("#curl").textContent = `curl -s ${location.origin}/project -F image=@${shellQuote(file.name)} `
    + `-F model=${shellQuote(model.name)}` + (model.conditional ? ` -F label=${shellQuote(answer.label)}` : "");
}

async function walkFromProjection() {
  const p = state.projection;
  if (!p) throw new Error("project a picture first");
  const start = p.label !== null ? {latent: p.latent, label: p.label} : {latent: p.latent};
  const seed = Math.max(0, Number($("#project-walk-seed").value) || 0);
  const end = p.label !== null ? {seed, label: p.label} : {seed};
  const body = {model: p.model, version: p.version, start, end, steps: 8, method: $("#walk-method").value,
                format: "json"};
  const frames = (await (await postJSON("/interpolate", body)).json()).frames;
  $("#project-strip").replaceChildren(...frames.map((b64) => Object.assign(new Image(),
                                                                           {src: `data:image/png;base64,${b64}`})));
}

// ---- wiring ----------------------------------------------------------------------------------------

function wire() {
  const refresh = () => guarded(async () => { renderGrid(); renderPinned(); });
  $("#model").addEventListener("change", () => {
    state.pinned = [];
    fillVersions("latest");
    refresh();
    fillProjectClasses();
    guarded(refreshInside);
  });
  $("#version").addEventListener("change", () => { refresh(); guarded(refreshInside); });
  $("#label").addEventListener("change", () => {
    document.querySelectorAll(".term-label select").forEach((select) => { select.value = $("#label").value; });
    refresh();
  });
  $("#truncation").addEventListener("input", () => {
    $("#truncation-value").textContent = truncation().toFixed(2);
  });
  $("#truncation").addEventListener("change", refresh);
  $("#generate").addEventListener("click", refresh);
  $("#shuffle").addEventListener("click", () => {
    $("#seed-start").value = Math.floor(Math.random() * 1e6);
    refresh();
  });
  $("#compare").addEventListener("click", () => guarded(async () => { fillCompareClasses(); renderCompare(); }));
  $("#compare-label").addEventListener("change", () => guarded(async () => renderCompare()));
  $("#inside-show").addEventListener("click", () => guarded(showActivations));
  $("#inside-layer").addEventListener("change", () => guarded(showActivations));
  $("#inside-label").addEventListener("change", () => guarded(showActivations));
  $("#project").addEventListener("click", () => guarded(project));
  $("#project-walk").addEventListener("click", () => guarded(walkFromProjection));
  $("#walk").addEventListener("click", () => guarded(walk));
  $("#arith").addEventListener("click", () => guarded(arithmetic));
  $("#train-form").addEventListener("submit", (event) => guarded(() => train(event)));
  $("#copy-curl").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("#curl").textContent));
}

window.addEventListener("DOMContentLoaded", () => guarded(async () => {
  wire();
  try {
    await Promise.all([loadModels(), loadOptions()]);
    if (!state.models.length) throw new Error("no models yet: train one below, it appears here when it lands");
    renderGrid();
    renderPinned();
    fillCompareClasses();
    renderCompare();
    fillProjectClasses();
    await refreshInside();
  } finally {
    document.body.dataset.ready = "true";
  }
  // versions trained elsewhere (the CLI, another tab) show up without a reload
  setInterval(() => guarded(async () => {
    const before = JSON.stringify(state.models);
    const models = (await (await api("/models")).json()).models;
    if (JSON.stringify(models) !== before) await loadModels();
  }), 15000);
}));
