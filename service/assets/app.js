// The page's behaviour: upload or draw -> POST ./ -> show the answer; history with corrections.
// Plain JS, no build step. Every URL is relative, so the page works under any path prefix.
"use strict";

const pct = (p) => (p * 100).toFixed(1) + "%";
let lowThreshold = 0.9;

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function showNote(message) {
  const note = $("upload-note");
  note.textContent = message;
  note.hidden = !message;
}

// Send one picture and show the answer. True when the server answered it (a result or a refusal: the same
// picture would get the same answer again), false when it did not (offline, or the server failed: worth a retry).
async function predict(blob, filename) {
  showError("");
  showNote("");
  const form = new FormData();
  form.append("file", blob, filename);
  $("result").setAttribute("aria-busy", "true");
  try {
    const result = await fetchJSON("./", { method: "POST", body: form });
    showResult(result);
    loadHistory();
    return true;
  } catch (e) {
    if (e.body && e.body.error === "not_a_digit") {  // answered, and recorded: shown as a result
      showResult(e.body);
      loadHistory();
      return true;
    }
    clearResult();  // the answer on screen is the previous picture's, not this one's
    showError(`Could not read ${filename}: ${e.message}`);
    return e.status !== undefined && e.status < 500;
  } finally {
    $("result").removeAttribute("aria-busy");
  }
}

// One upload per picture: choosing or dropping a file sends it at once, so "Recognise" (the button the form needs
// without JavaScript) sends only a file that has not been answered yet, and says so instead of sending it twice.
let sending = null;
let answered = null;

async function sendFile(file) {
  if (file === sending || file === answered) {
    showNote(file === sending ? `${file.name} is already on its way.` :
      `${file.name} was already sent: its answer is on the page. Choose or drop another picture.`);
    return;
  }
  sending = file;
  const done = await predict(file, file.name);
  if (sending === file) sending = null;
  if (done) answered = file;
}

function bars(probabilities, best) {
  return probabilities.map((p, d) => {
    const li = document.createElement("li");
    if (d === best) li.className = "best";
    li.innerHTML = `<span>${d}</span><span class="track"><span class="fill" style="width:${(p * 100).toFixed(2)}%"></span></span>` +
      `<span class="pct">${pct(p)}</span>`;
    li.setAttribute("aria-label", `${d}: ${pct(p)}${d === best ? ", the answer" : ""}`);
    return li;
  });
}

function showResult(r) {
  const refused = r.is_digit === false;
  $("digit").textContent = refused ? "not a digit" : r.digit;
  $("digit").classList.toggle("refused", refused);
  $("confidence").textContent = `${pct(r.confidence)} sure${refused ? " this is not a digit" : ""} · ` +
    `model ${r.model_version} · ${r.latency_ms.toFixed(1)} ms`;
  $("bars").replaceChildren(...bars(r.probabilities, r.digit));
  showImage($("seen"), `predictions/${r.id}/normalised.png`);
  $("result-fix").replaceChildren(correction(r, (updated) => {
    $("result-fix").querySelector(".done").textContent = `Saved: it was ${labelText(updated.label)}. Thank you.`;
  }));
  $("result-empty").hidden = true;
  $("result").hidden = false;
  revealAnswer();
}

function clearResult() {
  $("result").hidden = true;
  $("result-empty").hidden = false;
  $("digit").textContent = "";
  $("confidence").textContent = "";
  $("bars").replaceChildren();
  $("result-fix").replaceChildren();
  $("seen").removeAttribute("src");
}

// On a phone the answer lands below the form and the canvas, off-screen: bring it up. Where it is already in
// sight (a wide screen), nothing moves.
function revealAnswer() {
  const box = $("result").querySelector(".answer").getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) $("result-card").scrollIntoView({ block: "nearest" });
}

// What a record is called where there are many: its answer, its file and when it came.
function recordName(r) {
  const answer = r.is_digit === false ? "not a digit" : r.digit;
  const when = new Date(r.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `the answer ${answer} for ${r.filename} at ${when}`;
}

// A correction's label as people say it: a digit, or "not a digit".
function labelText(label) {
  return label === "not_a_digit" ? "not a digit" : String(label);
}

// "Wrong?": a small disclosure per record, named after it, rather than a form on every row; it opens on
// a select and a save button whose names say which record they correct.
function correction(record, onSaved) {
  const box = document.createElement("details");
  box.className = "wrong";
  const id = `fix-${record.id}-${Math.random().toString(36).slice(2, 7)}`;
  const name = escapeHtml(recordName(record));
  const options = `<option value=""${record.label === null ? " selected" : ""}>choose…</option>` +
    [...Array(10).keys(), "not_a_digit"]
      .map((v) => `<option value="${v}"${v === record.label ? " selected" : ""}>${labelText(v)}</option>`).join("");
  box.innerHTML = `<summary>Wrong?<span class="vh"> Correct ${name}</span></summary>` +
    `<form class="fix"><label for="${id}">It was<span class="vh"> (correcting ${name})</span></label>` +
    ` <select id="${id}" name="label">${options}</select>` +
    ` <button type="submit" class="secondary">Save correction<span class="vh"> of ${name}</span></button>` +
    ` <span class="done" role="status"></span></form>`;
  const form = box.querySelector("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.elements.label.value === "") {
      form.querySelector(".done").textContent = "Choose the right digit (or not a digit) first.";
      return;
    }
    const chosen = form.elements.label.value;
    const label = chosen === "not_a_digit" ? chosen : Number(chosen);
    try {
      const updated = await fetchJSON(`predictions/${record.id}/label`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label }),
      });
      onSaved(updated);
      loadHistory();
    } catch (e) {
      form.querySelector(".done").textContent = `Not saved: ${e.message}`;
    }
  });
  return box;
}

function historyItem(r) {
  const li = document.createElement("li");
  const low = r.confidence < lowThreshold;
  if (low) li.className = "low";
  li.dataset.id = r.id;
  const when = new Date(r.created_at);
  const img = document.createElement("img");
  img.width = img.height = 56;
  img.alt = `what the model saw for ${r.filename}`;
  showImage(img, `predictions/${r.id}/normalised.png`);
  const meta = document.createElement("div");
  const answer = r.is_digit === false ? "not a digit" : r.digit;
  meta.innerHTML = `<div class="meta"><span class="vh">Answer:</span><span class="hdigit${r.is_digit === false ? " refused" : ""}">${answer}</span>` +
    `<span class="badge${low ? " low" : ""}">${pct(r.confidence)}${low ? " · low" : ""}</span>` +
    (r.label !== null ? `<span class="badge fixed">corrected to ${labelText(r.label)}</span>` : "") +
    `<time datetime="${escapeHtml(r.created_at)}">${escapeHtml(when.toLocaleString())}</time></div>` +
    `<div class="small"><a href="predictions/${encodeURIComponent(r.id)}/image">${escapeHtml(r.filename)}</a> <span class="model"> · model ${escapeHtml(r.model_version)}</span></div>`;
  li.append(img, meta, correction(r, () => {}));
  return li;
}

// Each answer refreshes the history, and two refreshes can be answered out of order (two workers): an
// older call's answer arriving last would put back a list without the newest prediction, for good.
let historyCalls = 0;

async function loadHistory() {
  const status = $("history-status");
  const low = $("low-only").checked;
  const call = ++historyCalls;
  try {
    const body = await fetchJSON(`predictions?limit=20${low ? "&low_confidence=true" : ""}`);
    if (call !== historyCalls) return;  // a newer call is under way: its answer is the one to show
    lowThreshold = body.low_confidence_below ?? lowThreshold;
    $("low-threshold").textContent = pct(lowThreshold).replace(".0%", "%");
    $("history-list").replaceChildren(...body.predictions.map(historyItem));
    $("history-list").dataset.low = low;  // what the list shows now (tests and styles read it)
    status.textContent = body.predictions.length ? `${body.predictions.length} most recent` :
      (low ? "No low-confidence answers yet." : "Nothing yet: recognise a digit above.");
  } catch (e) {
    if (call !== historyCalls) return;
    status.textContent = `History is not available: ${e.message}`;
    if (e.status === 401) askForToken(status, loadHistory);
  }
}

function setUpDropZone() {
  const zone = $("upload");
  zone.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("file").files[0];
    if (file) sendFile(file); else showError("Choose a picture first.");
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) sendFile(file);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) sendFile(file);
  });
}

function setUpCanvas() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  let drawing = false;
  let drawn = false;
  let sent = false;  // this drawing has been sent: it changes with the next stroke
  // the buttons work only on a drawing, and the pad's name says what it holds
  const state = () => {
    $("clear").disabled = $("send-drawing").disabled = !drawn;
    pad.setAttribute("aria-label", !drawn ? "Drawing pad: empty" :
      `Drawing pad: your drawing, ${sent ? "sent: its answer is on the page" : "not sent yet"}`);
  };
  const clear = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    drawn = sent = false;
    state();
  };
  const point = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
  };
  ctx.lineWidth = 20;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = "#000";
  clear();
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    sent = false;
    const [x, y] = point(event);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x, y);
    ctx.stroke();
    drawn = true;
    state();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = point(event);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  for (const name of ["pointerup", "pointercancel"]) {
    pad.addEventListener(name, () => { drawing = false; });
  }
  $("clear").addEventListener("click", () => { clear(); showError(""); showNote(""); pad.focus(); });
  $("send-drawing").addEventListener("click", () => {
    if (!drawn) { showError("Draw a digit first."); return; }
    if (sent) { showNote("This drawing was already sent: its answer is on the page. Draw on, or clear for another."); return; }
    sent = true;
    state();
    pad.toBlob(async (blob) => {
      if (!(await predict(blob, "drawing.png"))) sent = false;
      state();
    }, "image/png");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpDropZone();
  setUpCanvas();
  $("low-only").addEventListener("change", loadHistory);
  $("refresh").addEventListener("click", loadHistory);
  loadHistory();
});
