// The hashing page: fingerprints computed here, on the person's device, with Firebreak's own selfhash library.
// Only the hashes and the few choices of the form are ever sent (one POST to /v1/victim-reports/hashes, after the person
// has seen exactly what it holds). The file input has no name and sits outside any form: even a submit without
// this script cannot send a file. Texts come translated from the page's data attributes.
import { hashFile } from "/static/selfhash/selfhash.js";

const EMAIL = /^[^@\s<>()[\],;:"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

const root = document.getElementById("hashing");
const form = document.getElementById("hash-form");
const files = document.getElementById("files");
const progress = document.getElementById("progress");
const problem = document.getElementById("problem");
const preview = document.getElementById("preview");
const previewBody = document.getElementById("preview-body");
const sendButton = document.getElementById("send-hashes");
const computeButton = document.getElementById("compute");
const result = document.getElementById("result");
const text = (name, values = {}) =>
  (root.dataset[name] || "").replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));

let pending = null; // exactly what was shown in the preview, and nothing else, is what gets sent
let pendingKey = null; // one key per preview: sending it again after a lost answer records one case

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showProblem(message) {
  problem.textContent = message;
  problem.hidden = false;
  problem.focus?.();
}

function clearProblem() {
  problem.hidden = true;
  problem.textContent = "";
}

function chosen(name) {
  const checked = form.querySelector(`input[name="${name}"]:checked`);
  return checked ? checked.value : "";
}

function onlyHashes(r) {
  // Build the shape field by field: whatever else the library reports (file name, size, notes) stays here.
  const item = { kind: r.kind, sha256: r.sha256, md5: r.md5, pdq: null };
  if (r.pdq) item.pdq = { hash: r.pdq.hash, quality: r.pdq.quality };
  if (r.frames) item.frames = r.frames.map((f) => ({ time: f.time, hash: f.hash, quality: f.quality }));
  return item;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblem();
  preview.hidden = true;
  pending = null;
  const list = Array.from(files.files || []);
  const email = document.getElementById("contact_email").value.trim();
  const updates = document.getElementById("email_updates").checked;
  if (list.length === 0) return showProblem(text("noFiles"));
  if (list.length > Number(root.dataset.maxFiles)) return showProblem(text("tooMany"));
  if (!chosen("category")) return showProblem(text("noCategory"));
  if (email && !EMAIL.test(email)) return showProblem(text("badEmail"));
  if (updates && !email) return showProblem(text("emailNeeded"));
  computeButton.disabled = true;
  progress.textContent = text("working");
  try {
    const hashes = [];
    for (const file of list) {
      hashes.push(onlyHashes(await hashFile(file)));
      progress.textContent = text("fileDone", { done: hashes.length, total: list.length });
    }
    const body = {
      hashes,
      category: chosen("category"),
      reporter: chosen("reporter") || "depicted",
      contact: email ? { email } : {},
      email_updates: updates,
      language: root.dataset.language,
    };
    pending = JSON.stringify(body);
    pendingKey = newKey();
    previewBody.textContent = JSON.stringify(body, null, 2);
    preview.hidden = false;
    document.getElementById("preview-title").focus();
  } catch (error) {
    showProblem(text("failed", { reason: error && error.message ? error.message : String(error) }));
  } finally {
    computeButton.disabled = false;
  }
});

sendButton.addEventListener("click", async () => {
  if (pending === null) return;
  clearProblem();
  sendButton.disabled = true;
  let response;
  try {
    response = await fetch("/v1/victim-reports/hashes", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": pendingKey },
      body: pending,
      credentials: "omit",
    });
  } catch (error) {
    sendButton.disabled = false;
    return showProblem(text("offline"));
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 429) {
    sendButton.disabled = false;
    return showProblem(text("busy"));
  }
  if (response.status !== 201) {
    sendButton.disabled = false;
    return showProblem(text("failed", { reason: answer.detail || answer.title || response.status }));
  }
  pending = null;
  form.hidden = true;
  preview.hidden = true;
  files.value = "";
  files.closest(".field").hidden = true;
  progress.textContent = "";
  document.getElementById("case-number").textContent = answer.case_number;
  document.getElementById("pin").textContent = answer.pin;
  const link = document.getElementById("status-link");
  link.href = answer.status_url;
  link.textContent = answer.status_url;
  result.hidden = false;
  document.getElementById("result-title").focus();
});

root.hidden = false;
document.documentElement.dataset.ready = "yes";
